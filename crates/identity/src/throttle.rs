//! Abuse limits for sign-in and registration: fixed-window counters kept in
//! `identity_throttle`, so they hold across restarts and across every node sharing the
//! database.
//!
//! | counter                 | counts                | limit | window | key                     |
//! |-------------------------|-----------------------|-------|--------|-------------------------|
//! | sign-in per account     | failed sign-ins       | 5     | 15 min | SHA-256 of kind + email |
//! | sign-in per address     | every sign-in attempt | 30    | 15 min | SHA-256 of the address  |
//! | registration per address| every registration    | 10    | 1 h    | SHA-256 of the address  |
//!
//! A window starts at the first attempt counted in it and lasts `window_secs`; the attempt that
//! takes the count past `attempts_max` and every one after it in that window is refused with
//! `throttled` and `retry_after_secs` until the window's end. The refusal comes before the
//! password is looked at, and the per-account key is derived from the email whether or not it
//! is registered, so a throttled unknown email looks exactly like a throttled known one.
//!
//! Counting only *failed* sign-ins per account, without a race: every attempt first reserves a
//! slot (the counter goes up before the password is checked, so a burst of parallel guesses
//! cannot all slip under the limit) and a successful sign-in gives its slot back. A success
//! does not reset the counter: otherwise an attacker who knows one password of a shared
//! account, or a user signing in between guesses, would wipe out the record of an ongoing
//! guessing run.
//!
//! IPv6 addresses are counted per /64 network, the smallest block one subscriber is usually
//! given; counting single IPv6 addresses would let one client rotate through 2^64 of them.
//! The email key uses the email compared ignoring ASCII case, as accounts do.

use std::net::IpAddr;

use kassa_kernel::{Email, Timestamp};
use sha2::{Digest, Sha256};

use crate::model::SubjectKind;
use crate::store::IdentityStore;
use crate::IdentityError;

/// At most this many attempts in one window; the next is refused until the window ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleLimit {
    pub attempts_max: u32,
    pub window_secs: u32,
}

impl ThrottleLimit {
    fn window_ms(&self) -> i64 {
        i64::from(self.window_secs) * 1_000
    }
}

/// Failed sign-ins per account: 5 per 15 minutes. A person who mistypes rarely fails five
/// times in a row, while an online guesser is held to 480 guesses a day per account, far
/// below what it takes to find any password our policy accepts. The window is short so that
/// an attacker cannot lock a customer out for long by failing on purpose.
pub const SIGN_IN_ACCOUNT_LIMIT: ThrottleLimit = ThrottleLimit {
    attempts_max: 5,
    window_secs: 15 * 60,
};

/// Sign-in attempts (failed or not) per client address: 30 per 15 minutes. Caps credential
/// stuffing (one address trying many accounts) while leaving room for an office or a mobile
/// carrier whose users share one address.
pub const SIGN_IN_ADDRESS_LIMIT: ThrottleLimit = ThrottleLimit {
    attempts_max: 30,
    window_secs: 15 * 60,
};

/// Registrations per client address: 10 per hour. A household or office registers a few
/// accounts; a script creating thousands is stopped.
pub const REGISTER_ADDRESS_LIMIT: ThrottleLimit = ThrottleLimit {
    attempts_max: 10,
    window_secs: 60 * 60,
};

/// The limits in force; [`Default`] is the documented constants above.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleLimits {
    pub sign_in_account: ThrottleLimit,
    pub sign_in_address: ThrottleLimit,
    pub register_address: ThrottleLimit,
}

impl Default for ThrottleLimits {
    fn default() -> Self {
        ThrottleLimits {
            sign_in_account: SIGN_IN_ACCOUNT_LIMIT,
            sign_in_address: SIGN_IN_ADDRESS_LIMIT,
            register_address: REGISTER_ADDRESS_LIMIT,
        }
    }
}

/// A counter's row key: a short readable purpose, then the SHA-256 of what is counted, so the
/// table holds no emails or addresses in clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ThrottleKey(String);

impl ThrottleKey {
    pub(crate) fn sign_in_account(kind: SubjectKind, email: &Email) -> ThrottleKey {
        let normalised = email.as_str().to_ascii_lowercase();
        ThrottleKey::hashed(
            "sign_in_account",
            &format!("{}:{normalised}", kind.as_str()),
        )
    }

    pub(crate) fn sign_in_address(addr: IpAddr) -> ThrottleKey {
        ThrottleKey::hashed("sign_in_address", &address_bucket(addr))
    }

    pub(crate) fn register_address(addr: IpAddr) -> ThrottleKey {
        ThrottleKey::hashed("register_address", &address_bucket(addr))
    }

    fn hashed(purpose: &str, value: &str) -> ThrottleKey {
        let digest = Sha256::digest(value.as_bytes());
        let mut key = String::with_capacity(purpose.len() + 1 + 64);
        key.push_str(purpose);
        key.push(':');
        for byte in digest {
            key.push_str(&format!("{byte:02x}"));
        }
        ThrottleKey(key)
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// The readable part, for logs.
    pub(crate) fn purpose(&self) -> &str {
        self.0
            .split_once(':')
            .map_or(&self.0, |(purpose, _)| purpose)
    }
}

/// What is counted for an address: IPv4 as is (an IPv4-mapped IPv6 address counts as its IPv4
/// address), IPv6 by its /64 network.
pub(crate) fn address_bucket(addr: IpAddr) -> String {
    match addr {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// A counter as the upsert left it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WindowCount {
    pub count: i64,
    pub window_start_ms: i64,
}

/// Windows that started at or before this instant have ended at `now`; the upsert restarts
/// them at `now` with a count of 1.
pub(crate) fn window_ended_by_ms(limit: &ThrottleLimit, now: Timestamp) -> i64 {
    now.millis().saturating_sub(limit.window_ms())
}

/// `Ok` if the counted attempt is within the limit, else the seconds until the window ends
/// (rounded up, at least 1), for `Retry-After`.
pub(crate) fn verdict(
    limit: &ThrottleLimit,
    counted: WindowCount,
    now: Timestamp,
) -> Result<(), u64> {
    if counted.count <= i64::from(limit.attempts_max) {
        return Ok(());
    }
    let ends_ms = counted.window_start_ms.saturating_add(limit.window_ms());
    let left_ms = ends_ms.saturating_sub(now.millis()).max(0);
    let secs = left_ms.saturating_add(999) / 1_000;
    Err(u64::try_from(secs).unwrap_or(0).max(1))
}

/// Counts one attempt under `key`; `Throttled` if it is past `limit`. A refused attempt is
/// counted too, but the window is fixed, so it does not push the window's end further out.
pub(crate) async fn count_attempt(
    store: &IdentityStore,
    key: &ThrottleKey,
    limit: &ThrottleLimit,
    now: Timestamp,
) -> Result<WindowCount, IdentityError> {
    let counted = store
        .throttle_hit(key, now, window_ended_by_ms(limit, now))
        .await?;
    verdict(limit, counted, now).map_err(|retry_after_secs| {
        tracing::info!(
            throttle = key.purpose(),
            count = counted.count,
            retry_after_secs,
            "attempt throttled"
        );
        IdentityError::Throttled { retry_after_secs }
    })?;
    Ok(counted)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const LIMIT: ThrottleLimit = ThrottleLimit {
        attempts_max: 5,
        window_secs: 900,
    };

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    fn counted(count: i64, window_start_ms: i64) -> WindowCount {
        WindowCount {
            count,
            window_start_ms,
        }
    }

    #[test]
    fn attempts_up_to_the_limit_pass_and_the_next_is_refused() {
        for count in 1..=5 {
            assert_eq!(verdict(&LIMIT, counted(count, 0), at(10)), Ok(()));
        }
        assert!(verdict(&LIMIT, counted(6, 0), at(10)).is_err());
    }

    #[test]
    fn retry_after_is_the_rest_of_the_window_rounded_up() {
        // Window 0..900_000 ms; at 10 ms, 899.99 s are left: 900.
        assert_eq!(verdict(&LIMIT, counted(6, 0), at(10)), Err(900));
        assert_eq!(verdict(&LIMIT, counted(6, 0), at(1_000)), Err(899));
        assert_eq!(verdict(&LIMIT, counted(6, 0), at(899_001)), Err(1));
        // Never zero, even at or past the end (the upsert would have restarted the window).
        assert_eq!(verdict(&LIMIT, counted(6, 0), at(900_000)), Err(1));
        assert_eq!(verdict(&LIMIT, counted(6, 0), at(5_000_000)), Err(1));
    }

    #[test]
    fn a_window_ends_exactly_window_secs_after_it_starts() {
        // The upsert restarts a window when window_start_ms <= window_ended_by_ms(now). A window
        // started at 0 has ended at 900 000 ms, not one millisecond before.
        assert_eq!(window_ended_by_ms(&LIMIT, at(900_000)), 0);
        assert_eq!(window_ended_by_ms(&LIMIT, at(899_999)), -1);
        assert_eq!(window_ended_by_ms(&LIMIT, at(i64::MIN)), i64::MIN);
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_bucket(a), "2001:db8:1:2::/64");
        assert_eq!(address_bucket(a), address_bucket(b));
        assert_ne!(address_bucket(a), address_bucket(c));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(address_bucket(mapped), "192.0.2.7");
        assert_eq!(
            ThrottleKey::sign_in_address(mapped),
            ThrottleKey::sign_in_address("192.0.2.7".parse().unwrap())
        );
    }

    #[test]
    fn keys_hash_what_they_count_and_keep_a_readable_purpose() {
        let email = Email::parse("Jane@Example.com").unwrap();
        let key = ThrottleKey::sign_in_account(SubjectKind::Customer, &email);
        assert!(key.as_str().starts_with("sign_in_account:"));
        assert_eq!(key.as_str().len(), "sign_in_account:".len() + 64);
        assert!(!key.as_str().contains("jane"));
        assert_eq!(key.purpose(), "sign_in_account");
        let lower = Email::parse("jane@example.com").unwrap();
        assert_eq!(
            key,
            ThrottleKey::sign_in_account(SubjectKind::Customer, &lower)
        );
        assert_ne!(
            key,
            ThrottleKey::sign_in_account(SubjectKind::Staff, &lower)
        );
        let addr: IpAddr = "192.0.2.7".parse().unwrap();
        assert_ne!(
            ThrottleKey::sign_in_address(addr).as_str(),
            ThrottleKey::register_address(addr).as_str()
        );
    }

    #[test]
    fn default_limits_are_the_documented_constants() {
        let limits = ThrottleLimits::default();
        assert_eq!(
            limits.sign_in_account,
            ThrottleLimit {
                attempts_max: 5,
                window_secs: 900
            }
        );
        assert_eq!(
            limits.sign_in_address,
            ThrottleLimit {
                attempts_max: 30,
                window_secs: 900
            }
        );
        assert_eq!(
            limits.register_address,
            ThrottleLimit {
                attempts_max: 10,
                window_secs: 3600
            }
        );
    }
}

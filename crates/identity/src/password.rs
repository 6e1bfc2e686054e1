//! Passwords: the policy a new password must pass ([`Password::parse`]), and how passwords are
//! hashed and checked (argon2id, [`PasswordParams`]).
//!
//! **Policy.** A new password has 10 to 128 characters (Unicode scalar values, not normalised)
//! and is refused if it is one character repeated (`aaaaaaaaaa`), a simple ascending or
//! descending run (`abcdefghij`, `9876543210`), one of about a hundred of the most common
//! passwords found in breach corpora (compared ignoring case; shorter ones are already refused
//! by the length rule, so the list holds only those of 10 characters or more), or contains the
//! part of the account's email before the `@` when that part has 3 characters or more. The last
//! rule needs the email, so the service applies it ([`Password::check_email`]); the others are
//! applied by [`Password::parse`]. There is no rule about character classes: length and
//! avoiding known passwords matter more (NIST SP 800-63B §3.1.1.2).
//!
//! **Hashing.** argon2id, version 0x13, stored as a PHC string
//! (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`), so the parameters used are stored with each
//! hash and can be raised later without invalidating existing ones. The defaults are OWASP's
//! recommendation for argon2id: 19 MiB of memory, 2 iterations, 1 lane. The salt is 16 bytes
//! from the operating system. Verification recomputes the hash with the stored parameters and
//! compares in constant time (the `password-hash` crate's `Output` comparison).
//!
//! Hashing is deliberately slow (tens of milliseconds) and memory-hungry, so it runs on the
//! blocking thread pool, never on an async worker, and at most `hashes_in_flight_max` at a time
//! (`Passwords`), which bounds the memory it can take to that many times `memory_kib`.

mod common;

use std::fmt;
use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use kassa_kernel::Email;
use tokio::sync::{OnceCell, Semaphore};

use crate::IdentityError;
use common::COMMON_PASSWORDS;

/// Shortest new password, in characters: NIST SP 800-63B asks for at least 8; 10 leaves a
/// margin against offline guessing of a leaked hash at little cost to users with a manager.
pub const PASSWORD_LEN_MIN: usize = 10;
/// Longest new password, in characters: long enough for any passphrase, short enough that
/// hashing it costs nothing extra.
pub const PASSWORD_LEN_MAX: usize = 128;
/// A presented password (sign-in, current password) longer than this many bytes cannot be
/// one we accepted (128 characters of at most 4 bytes); it is checked against the dummy hash
/// so it costs the same time and fails.
pub const PRESENTED_PASSWORD_BYTES_MAX: usize = 4 * PASSWORD_LEN_MAX;
/// The part of an email before the `@` is looked for in the password only from this length
/// on; shorter ones (`jo@…`) would refuse too many good passwords.
pub const EMAIL_LOCAL_PART_LEN_MIN: usize = 3;
/// Random bytes of salt per hash: the length the PHC string format recommends.
pub const SALT_BYTES: usize = 16;
/// Default of `IdentityConfig::hashes_in_flight_max`: hashes computed at once. Enough to keep
/// two cores busy with room for a queue; with the default parameters, 4 × 19 MiB = 76 MiB of
/// memory at most.
pub const HASHES_IN_FLIGHT_MAX_DEFAULT: usize = 4;

/// Why a new password is refused. Messages are sentences without the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WeakPassword {
    #[error("the password must be at least {min} characters long")]
    TooShort { min: usize },
    #[error("the password must be at most {max} characters long")]
    TooLong { max: usize },
    #[error("the password must not be one character repeated")]
    RepeatedCharacter,
    #[error("the password must not be a simple sequence such as abcdefghij or 9876543210")]
    Sequence,
    #[error("the password is one of the most common passwords found in data breaches")]
    Common,
    #[error("the password must not contain the part of the email address before the '@'")]
    ContainsEmail,
}

/// A new password that passed the policy. It has no `Clone` or `Display`, and `Debug` does not
/// print it: it exists only to be hashed.
pub struct Password(String);

impl Password {
    /// Applies every rule except [`WeakPassword::ContainsEmail`], which the service applies
    /// with the account's email.
    pub fn parse(raw: String) -> Result<Password, WeakPassword> {
        // Count at most one past the limit, so a huge input costs no more than a long one.
        let len = raw.chars().take(PASSWORD_LEN_MAX + 1).count();
        if len < PASSWORD_LEN_MIN {
            return Err(WeakPassword::TooShort {
                min: PASSWORD_LEN_MIN,
            });
        }
        if len > PASSWORD_LEN_MAX {
            return Err(WeakPassword::TooLong {
                max: PASSWORD_LEN_MAX,
            });
        }
        let lower = raw.to_lowercase();
        if is_one_character_repeated(&lower) {
            return Err(WeakPassword::RepeatedCharacter);
        }
        if is_simple_sequence(&lower) {
            return Err(WeakPassword::Sequence);
        }
        if COMMON_PASSWORDS.contains(&lower.as_str()) {
            return Err(WeakPassword::Common);
        }
        Ok(Password(raw))
    }

    /// Refuses a password containing the email's part before the `@` (ignoring case), when
    /// that part has at least [`EMAIL_LOCAL_PART_LEN_MIN`] characters.
    pub fn check_email(&self, email: &Email) -> Result<(), WeakPassword> {
        let local = email
            .as_str()
            .rsplit_once('@')
            .map_or(email.as_str(), |(local, _)| local)
            .to_lowercase();
        if local.chars().count() >= EMAIL_LOCAL_PART_LEN_MIN
            && self.0.to_lowercase().contains(&local)
        {
            return Err(WeakPassword::ContainsEmail);
        }
        Ok(())
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

fn is_one_character_repeated(lower: &str) -> bool {
    let mut chars = lower.chars();
    match chars.next() {
        Some(first) => chars.all(|c| c == first),
        None => false,
    }
}

/// Every character is the previous one plus one (`abcd…`, `0123…`), or every one is the
/// previous minus one (`zyx…`, `9876…`).
fn is_simple_sequence(lower: &str) -> bool {
    let codes: Vec<i64> = lower.chars().map(|c| i64::from(u32::from(c))).collect();
    let steps: Vec<i64> = codes.windows(2).map(|w| w[1] - w[0]).collect();
    !steps.is_empty() && (steps.iter().all(|s| *s == 1) || steps.iter().all(|s| *s == -1))
}

/// argon2id cost parameters for new hashes. Existing hashes keep the parameters stored in their
/// PHC string, so changing these affects only passwords set afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordParams {
    memory_kib: u32,
    iterations: u32,
    parallelism: u32,
}

/// Why argon2 parameters are not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid argon2 parameters (m={memory_kib} KiB, t={iterations}, p={parallelism}): {reason}"
)]
pub struct PasswordParamsError {
    memory_kib: u32,
    iterations: u32,
    parallelism: u32,
    reason: String,
}

impl PasswordParams {
    /// OWASP's argon2id recommendation (Password Storage Cheat Sheet): 19 MiB.
    pub const MEMORY_KIB_DEFAULT: u32 = 19_456;
    /// OWASP's argon2id recommendation: 2 passes over the memory.
    pub const ITERATIONS_DEFAULT: u32 = 2;
    /// OWASP's argon2id recommendation: 1 lane; parallelism would only help an attacker who
    /// has more cores than our request does.
    pub const PARALLELISM_DEFAULT: u32 = 1;

    /// Checks the parameters with argon2's own limits (memory at least 8 KiB per lane,
    /// at least one iteration and one lane). Tests use cheap ones such as `new(64, 1, 1)`.
    pub fn new(
        memory_kib: u32,
        iterations: u32,
        parallelism: u32,
    ) -> Result<PasswordParams, PasswordParamsError> {
        match Params::new(memory_kib, iterations, parallelism, None) {
            Ok(_) => Ok(PasswordParams {
                memory_kib,
                iterations,
                parallelism,
            }),
            Err(err) => Err(PasswordParamsError {
                memory_kib,
                iterations,
                parallelism,
                reason: err.to_string(),
            }),
        }
    }

    pub fn memory_kib(&self) -> u32 {
        self.memory_kib
    }

    pub fn iterations(&self) -> u32 {
        self.iterations
    }

    pub fn parallelism(&self) -> u32 {
        self.parallelism
    }

    fn argon2(&self) -> Result<Argon2<'static>, argon2::password_hash::Error> {
        let params = Params::new(self.memory_kib, self.iterations, self.parallelism, None)?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

impl Default for PasswordParams {
    fn default() -> Self {
        PasswordParams {
            memory_kib: Self::MEMORY_KIB_DEFAULT,
            iterations: Self::ITERATIONS_DEFAULT,
            parallelism: Self::PARALLELISM_DEFAULT,
        }
    }
}

/// A stored password hash: a PHC string. `Debug` does not print it.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct HashedPassword(String);

impl HashedPassword {
    /// A hash read from storage; `None` if it is not a PHC string.
    pub(crate) fn from_stored(phc: String) -> Option<HashedPassword> {
        PasswordHash::new(&phc).ok()?;
        Some(HashedPassword(phc))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for HashedPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HashedPassword(<redacted>)")
    }
}

/// Hashes `password` with a fresh salt. CPU- and memory-heavy: call on the blocking pool.
fn hash_blocking(
    params: PasswordParams,
    password: &str,
    salt: &[u8; SALT_BYTES],
) -> Result<HashedPassword, argon2::password_hash::Error> {
    let salt = SaltString::encode_b64(salt)?;
    let hash = params.argon2()?.hash_password(password.as_bytes(), &salt)?;
    Ok(HashedPassword(hash.to_string()))
}

/// Whether `attempt` is the password of `hash`, recomputed with the hash's own parameters and
/// compared in constant time. CPU- and memory-heavy: call on the blocking pool.
fn verify_blocking(
    hash: &HashedPassword,
    attempt: &str,
) -> Result<bool, argon2::password_hash::Error> {
    let parsed = PasswordHash::new(&hash.0)?;
    // The parameters and algorithm come from `parsed`; `Argon2::default()` only supplies the
    // implementation.
    match Argon2::default().verify_password(attempt.as_bytes(), &parsed) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::Password) => Ok(false),
        Err(err) => Err(err),
    }
}

/// The password a dummy hash is made of: never a valid password (too short for the policy).
const DUMMY_PASSWORD: &str = "dummy";
/// A fixed salt for the dummy hash: it protects nothing, it only has to cost the same.
const DUMMY_SALT: [u8; SALT_BYTES] = *b"kassa-dummy-salt";

/// Hashing and verification off the async workers, bounded in how many run at once.
pub(crate) struct Passwords {
    params: PasswordParams,
    /// One permit per hash that may be computed at once; waiting callers queue here.
    permits: Arc<Semaphore>,
    /// A hash with the configured parameters that no password matches: sign-in with an unknown
    /// email verifies against it, so it takes as long as with a known one. Made on first use.
    dummy: OnceCell<HashedPassword>,
}

impl Passwords {
    pub(crate) fn new(params: PasswordParams, hashes_in_flight_max: usize) -> Passwords {
        Passwords {
            params,
            permits: Arc::new(Semaphore::new(hashes_in_flight_max.max(1))),
            dummy: OnceCell::new(),
        }
    }

    pub(crate) async fn hash(&self, password: &Password) -> Result<HashedPassword, IdentityError> {
        let mut salt = [0_u8; SALT_BYTES];
        getrandom::fill(&mut salt).map_err(IdentityError::Randomness)?;
        self.hash_with_salt(password.expose().to_owned(), salt)
            .await
    }

    /// Whether `attempt` matches `stored`. With no stored hash (unknown email, or an attempt
    /// longer than any password we accept) it verifies against the dummy hash and answers
    /// false, taking the same time.
    pub(crate) async fn verify(
        &self,
        stored: Option<&HashedPassword>,
        attempt: &str,
    ) -> Result<bool, IdentityError> {
        let stored = stored.filter(|_| attempt.len() <= PRESENTED_PASSWORD_BYTES_MAX);
        let Some(stored) = stored else {
            let dummy = self.dummy().await?.clone();
            let attempt = attempt
                .get(..PRESENTED_PASSWORD_BYTES_MAX.min(attempt.len()))
                .unwrap_or(DUMMY_PASSWORD)
                .to_owned();
            self.blocking(move || verify_blocking(&dummy, &attempt))
                .await?;
            return Ok(false);
        };
        let stored = stored.clone();
        let attempt = attempt.to_owned();
        self.blocking(move || verify_blocking(&stored, &attempt))
            .await
    }

    async fn dummy(&self) -> Result<&HashedPassword, IdentityError> {
        self.dummy
            .get_or_try_init(|| self.hash_with_salt(DUMMY_PASSWORD.to_owned(), DUMMY_SALT))
            .await
    }

    async fn hash_with_salt(
        &self,
        password: String,
        salt: [u8; SALT_BYTES],
    ) -> Result<HashedPassword, IdentityError> {
        let params = self.params;
        self.blocking(move || hash_blocking(params, &password, &salt))
            .await
    }

    /// Runs `work` on the blocking pool once a permit is free.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, argon2::password_hash::Error> + Send + 'static,
    ) -> Result<T, IdentityError> {
        // The semaphore is never closed, so acquiring cannot fail; if it ever did, the work
        // would run without a permit rather than not at all.
        let permit = Arc::clone(&self.permits).acquire_owned().await.ok();
        let result = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await
        .map_err(IdentityError::HashingTask)?;
        result.map_err(IdentityError::PasswordHashing)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn refused(raw: &str) -> WeakPassword {
        Password::parse(raw.to_owned()).unwrap_err()
    }

    #[test]
    fn length_is_checked_at_both_ends_in_characters() {
        assert_eq!(refused("Tr0ub4dor"), WeakPassword::TooShort { min: 10 });
        assert!(Password::parse("Tr0ub4dor&".to_owned()).is_ok());
        let longest = format!("correct horse battery staple {}", "x".repeat(99));
        assert_eq!(longest.chars().count(), 128);
        assert!(Password::parse(longest.clone()).is_ok());
        assert_eq!(
            refused(&format!("{longest}y")),
            WeakPassword::TooLong { max: 128 }
        );
        // Ten characters of two bytes each are ten characters, not twenty.
        assert!(Password::parse("äöüßéèñçåø".to_owned()).is_ok());
        assert_eq!(refused("äöüßéèñçå"), WeakPassword::TooShort { min: 10 });
        assert_eq!(
            refused(&"x".repeat(100_000)),
            WeakPassword::TooLong { max: 128 }
        );
    }

    #[test]
    fn one_character_repeated_is_refused_ignoring_case() {
        assert_eq!(refused("aaaaaaaaaa"), WeakPassword::RepeatedCharacter);
        assert_eq!(refused("aAaAaAaAaAaA"), WeakPassword::RepeatedCharacter);
        assert_eq!(refused("!!!!!!!!!!"), WeakPassword::RepeatedCharacter);
        assert!(Password::parse("aaaaaaaaab".to_owned()).is_ok());
    }

    #[test]
    fn simple_runs_up_or_down_are_refused() {
        assert_eq!(refused("abcdefghij"), WeakPassword::Sequence);
        assert_eq!(refused("ABCDEFGHIJKL"), WeakPassword::Sequence);
        assert_eq!(refused("0123456789"), WeakPassword::Sequence);
        assert_eq!(refused("9876543210"), WeakPassword::Sequence);
        assert_eq!(refused("zyxwvutsrq"), WeakPassword::Sequence);
        assert!(Password::parse("abcdefghik".to_owned()).is_ok());
        assert!(Password::parse("acegikmoqs".to_owned()).is_ok());
    }

    #[test]
    fn common_passwords_are_refused_ignoring_case() {
        assert_eq!(refused("password123"), WeakPassword::Common);
        assert_eq!(refused("Password123"), WeakPassword::Common);
        assert_eq!(refused("QWERTYUIOP"), WeakPassword::Common);
        assert_eq!(refused("1234567890"), WeakPassword::Common);
        assert!(Password::parse("password123 but longer".to_owned()).is_ok());
    }

    #[test]
    fn the_common_list_holds_only_reachable_lower_case_entries_once() {
        let mut seen = std::collections::HashSet::new();
        assert!(COMMON_PASSWORDS.len() >= 100, "{}", COMMON_PASSWORDS.len());
        for entry in COMMON_PASSWORDS {
            assert!(seen.insert(*entry), "{entry} twice");
            assert_eq!(entry.to_lowercase(), *entry);
            let len = entry.chars().count();
            assert!(
                (PASSWORD_LEN_MIN..=PASSWORD_LEN_MAX).contains(&len),
                "{entry}"
            );
            assert!(!is_one_character_repeated(entry) && !is_simple_sequence(entry));
        }
    }

    #[test]
    fn the_email_local_part_is_refused_from_three_characters_on() {
        let email = Email::parse("Jane.Doe@example.com").unwrap();
        let password = Password::parse("my-JANE.DOE-secret".to_owned()).unwrap();
        assert_eq!(
            password.check_email(&email),
            Err(WeakPassword::ContainsEmail)
        );
        let other = Password::parse("correct horse battery".to_owned()).unwrap();
        assert_eq!(other.check_email(&email), Ok(()));
        // The domain is not the local part.
        let domain = Password::parse("example.com is my shop".to_owned()).unwrap();
        assert_eq!(domain.check_email(&email), Ok(()));
        // Two characters are too short to refuse on.
        let short = Email::parse("jo@example.com").unwrap();
        let with_jo = Password::parse("jo jo jo jo jo".to_owned()).unwrap();
        assert_eq!(with_jo.check_email(&short), Ok(()));
        let three = Email::parse("ann@example.com").unwrap();
        let with_ann = Password::parse("joanna-forever".to_owned()).unwrap();
        assert_eq!(
            with_ann.check_email(&three),
            Err(WeakPassword::ContainsEmail)
        );
    }

    #[test]
    fn debug_never_prints_a_password_or_hash() {
        let password = Password::parse("correct horse battery".to_owned()).unwrap();
        assert_eq!(format!("{password:?}"), "Password(<redacted>)");
        let hash = hash_blocking(PasswordParams::new(64, 1, 1).unwrap(), "x", &[7; 16]).unwrap();
        assert!(!format!("{hash:?}").contains("argon2"));
    }

    #[test]
    fn params_default_to_owasp_and_are_checked() {
        let params = PasswordParams::default();
        assert_eq!(
            (
                params.memory_kib(),
                params.iterations(),
                params.parallelism()
            ),
            (19_456, 2, 1)
        );
        assert!(PasswordParams::new(64, 1, 1).is_ok());
        assert!(PasswordParams::new(4, 1, 1).is_err());
        assert!(PasswordParams::new(64, 0, 1).is_err());
        assert!(PasswordParams::new(64, 1, 0).is_err());
    }

    #[test]
    fn a_hash_is_an_argon2id_phc_string_that_verifies_only_its_password() {
        let params = PasswordParams::new(64, 1, 1).unwrap();
        let hash = hash_blocking(params, "correct horse battery", &[1; 16]).unwrap();
        assert!(
            hash.as_str().starts_with("$argon2id$v=19$m=64,t=1,p=1$"),
            "{}",
            hash.as_str()
        );
        assert!(verify_blocking(&hash, "correct horse battery").unwrap());
        assert!(!verify_blocking(&hash, "correct horse batterx").unwrap());
        assert!(!verify_blocking(&hash, "").unwrap());
        // A different salt gives a different hash of the same password.
        let other = hash_blocking(params, "correct horse battery", &[2; 16]).unwrap();
        assert_ne!(hash, other);
        assert_eq!(
            HashedPassword::from_stored(hash.as_str().to_owned()),
            Some(hash)
        );
        assert_eq!(HashedPassword::from_stored("plain".to_owned()), None);
    }

    #[test]
    fn a_hash_made_with_old_parameters_still_verifies() {
        let old = hash_blocking(PasswordParams::new(32, 2, 1).unwrap(), "pw", &[3; 16]).unwrap();
        assert!(old.as_str().contains("m=32,t=2,p=1"));
        assert!(verify_blocking(&old, "pw").unwrap());
    }
}

//! `kassa staff create`: the way the first owner (or any staff member) is created without
//! the API, since every staff route needs a staff member to call it.
//!
//! The password is read from the `KASSA_STAFF_PASSWORD` environment variable, or else as one
//! line from standard input, never from the command line (where `ps` and shell history would
//! show it). It must pass the same policy as everywhere else.

use std::io::BufRead;

use anyhow::{bail, Context};
use kassa_identity::{IdentityError, Password, Role, StaffMember};
use kassa_kernel::Email;

use crate::Districts;

/// The environment variable the password is read from, before standard input.
pub const PASSWORD_VAR: &str = "KASSA_STAFF_PASSWORD";

/// The longest line read from standard input, in bytes: far above the longest password
/// accepted (128 characters of up to 4 bytes), so a longer line is refused as too long by the
/// policy rather than read without end.
const PASSWORD_LINE_BYTES_MAX: u64 = 4 * 1024;

/// Creates a staff member. Every refusal is an error whose message says what to fix.
pub async fn create(
    districts: &Districts,
    role: Role,
    email: &str,
    password: String,
) -> anyhow::Result<StaffMember> {
    let email = Email::parse(email).map_err(|err| anyhow::anyhow!("--email: {err}"))?;
    let password = Password::parse(password)
        .map_err(|reason| anyhow::anyhow!("the password is too weak: {reason}"))?;
    match districts.identity.create_staff(email, password, role).await {
        Ok(member) => Ok(member),
        Err(IdentityError::EmailTaken) => {
            bail!("a staff member with this email already exists; nothing was created")
        }
        Err(IdentityError::WeakPassword { reason, .. }) => {
            bail!("the password is too weak: {reason}")
        }
        Err(err) => Err(err).context("the staff member could not be created"),
    }
}

/// The password from [`PASSWORD_VAR`], or else the first line of standard input without its
/// line ending.
pub fn read_password() -> anyhow::Result<String> {
    if let Ok(password) = std::env::var(PASSWORD_VAR) {
        return Ok(password);
    }
    let stdin = std::io::stdin();
    read_line(stdin.lock())
}

fn read_line(input: impl BufRead) -> anyhow::Result<String> {
    let mut line = String::new();
    input
        .take(PASSWORD_LINE_BYTES_MAX)
        .read_line(&mut line)
        .context("could not read the password from standard input")?;
    let password = line
        .strip_suffix('\n')
        .map(|rest| rest.strip_suffix('\r').unwrap_or(rest))
        .unwrap_or(&line);
    if password.is_empty() {
        bail!("no password: set {PASSWORD_VAR} or write it as one line on standard input");
    }
    Ok(password.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_the_first_line_without_its_ending() {
        let read = |input: &str| read_line(input.as_bytes()).ok();
        assert_eq!(
            read("a long passphrase\n").as_deref(),
            Some("a long passphrase")
        );
        assert_eq!(read("with cr lf\r\nsecond").as_deref(), Some("with cr lf"));
        assert_eq!(read(" spaces kept ").as_deref(), Some(" spaces kept "));
        assert_eq!(read(""), None);
        assert_eq!(read("\n"), None);
    }
}

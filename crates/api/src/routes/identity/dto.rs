//! Wire shapes of the identity routes. Inputs holding a password or a token derive no `Debug`,
//! so they cannot reach a log line by accident.

use kassa_identity::{AuditEntry, Customer, Role, StaffMember, TokenPair};
use kassa_kernel::ids::{AuditEntryId, CartId, CustomerId, SessionId, StaffId};
use kassa_kernel::Email;
use serde::{Deserialize, Serialize};

use crate::routes::carts::dto::CartDto;
use crate::state::ApiConfig;

/// `POST /v1/customers`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewCustomer)]
pub struct NewCustomerDto {
    #[schema(value_type = String, example = "ada@example.com")]
    pub email: Email,
    /// 10 to 128 characters; see docs/API.md for the rules.
    pub password: String,
}

/// The answer to a registration, the same whether or not the email was registered before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = Accepted)]
pub struct AcceptedDto {
    #[schema(example = "accepted")]
    pub status: String,
}

/// `POST /v1/sessions`: a customer's sign-in, optionally with the anonymous cart to merge.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SignIn)]
pub struct SignInDto {
    #[schema(value_type = String, example = "ada@example.com")]
    pub email: Email,
    pub password: String,
    /// The anonymous cart to merge into the customer's; sent together with `cart_token`.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "cart_0191b7c26d4e7cc28a113f2b4c5d6e7f")]
    pub cart_id: Option<CartId>,
    /// That cart's token, as `POST /v1/carts` answered it.
    #[serde(default)]
    pub cart_token: Option<String>,
}

/// `POST /v1/admin/sessions`: a staff member's sign-in.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = StaffSignIn)]
pub struct StaffSignInDto {
    #[schema(value_type = String, example = "owner@example.com")]
    pub email: Email,
    pub password: String,
}

/// `POST /v1/sessions/refresh`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Refresh)]
pub struct RefreshDto {
    /// The refresh token of the last pair; it is spent by this call.
    pub refresh_token: String,
}

/// A new token pair (sign-in, refresh).
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Tokens)]
pub struct TokensDto {
    /// Send as `Authorization: Bearer <access_token>`.
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: String,
    /// Seconds the access token is valid for.
    #[schema(example = 900)]
    pub expires_in: u32,
    /// Used once, with `POST /v1/sessions/refresh`, for the next pair.
    pub refresh_token: String,
    /// Seconds the refresh token is valid for.
    #[schema(example = 2592000)]
    pub refresh_expires_in: u32,
    #[schema(value_type = String, example = "sess_0191b7c26d4e7cc28a113f2b4c5d6e7f")]
    pub session_id: SessionId,
}

impl TokensDto {
    /// The pair, with the lifetimes identity was configured with (`config` carries them).
    pub fn new(pair: TokenPair, config: &ApiConfig) -> TokensDto {
        TokensDto {
            access_token: pair.access_token.expose().to_owned(),
            token_type: "Bearer".to_owned(),
            expires_in: config.access_token_ttl_secs,
            refresh_token: pair.refresh_token.expose().to_owned(),
            refresh_expires_in: config.refresh_token_ttl_secs,
            session_id: pair.session_id,
        }
    }
}

/// The answer to a customer's sign-in: the tokens and the customer's open cart.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = CustomerSession)]
pub struct CustomerSessionDto {
    #[serde(flatten)]
    pub tokens: TokensDto,
    /// The customer's open cart after merging the anonymous one, or `null` if they have none.
    #[schema(required = true)]
    pub cart: Option<CartDto>,
}

/// `GET /v1/me`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = CurrentCustomer)]
pub struct CurrentCustomerDto {
    #[schema(value_type = String, example = "cus_0191b7c26d4e7cc28a113f2b4c5d6e7f")]
    pub id: CustomerId,
    /// As registered, with ASCII letters lower-cased.
    #[schema(value_type = String, example = "ada@example.com")]
    pub email: Email,
    #[schema(example = "2026-11-22T04:39:36.123Z")]
    pub created_at: String,
}

impl From<Customer> for CurrentCustomerDto {
    fn from(customer: Customer) -> CurrentCustomerDto {
        CurrentCustomerDto {
            id: customer.id,
            email: customer.email,
            created_at: customer.created_at.to_rfc3339(),
        }
    }
}

/// `PUT /v1/me/password`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PasswordChange)]
pub struct PasswordChangeDto {
    pub current_password: String,
    /// Follows the same rules as at registration.
    pub new_password: String,
}

/// A staff role; what each may do is the permission matrix in docs/API.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = Role)]
pub enum RoleDto {
    Owner,
    Manager,
    Support,
}

impl From<Role> for RoleDto {
    fn from(role: Role) -> RoleDto {
        match role {
            Role::Owner => RoleDto::Owner,
            Role::Manager => RoleDto::Manager,
            Role::Support => RoleDto::Support,
        }
    }
}

impl From<RoleDto> for Role {
    fn from(role: RoleDto) -> Role {
        match role {
            RoleDto::Owner => Role::Owner,
            RoleDto::Manager => Role::Manager,
            RoleDto::Support => Role::Support,
        }
    }
}

/// A staff member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = StaffMember)]
pub struct StaffMemberDto {
    #[schema(value_type = String, example = "staff_0191b7c26d4e7cc28a113f2b4c5d6e7f")]
    pub id: StaffId,
    #[schema(value_type = String, example = "owner@example.com")]
    pub email: Email,
    pub role: RoleDto,
    /// A disabled member cannot sign in; staff are never deleted.
    pub disabled: bool,
    #[schema(example = "2026-11-22T04:39:36.123Z")]
    pub created_at: String,
}

impl From<StaffMember> for StaffMemberDto {
    fn from(member: StaffMember) -> StaffMemberDto {
        StaffMemberDto {
            disabled: !member.is_active(),
            id: member.id,
            email: member.email,
            role: member.role.into(),
            created_at: member.created_at.to_rfc3339(),
        }
    }
}

/// Every staff member, oldest first, in one page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct StaffList {
    pub items: Vec<StaffMemberDto>,
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// `POST /v1/admin/staff`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewStaffMember)]
pub struct NewStaffDto {
    #[schema(value_type = String, example = "manager@example.com")]
    pub email: Email,
    pub password: String,
    pub role: RoleDto,
}

/// `PATCH /v1/admin/staff/{staff_id}`: the fields to change.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = StaffPatch)]
pub struct StaffPatchDto {
    #[serde(default)]
    pub role: Option<RoleDto>,
    /// Only `true`: disabling is final (a disabled member is never re-enabled).
    #[serde(default)]
    pub disabled: Option<bool>,
}

/// One entry of the staff audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = AuditEntry)]
pub struct AuditEntryDto {
    #[schema(value_type = String, example = "aud_0191b7c26d4e7cc28a113f2b4c5d6e7f")]
    pub id: AuditEntryId,
    #[schema(value_type = String, example = "staff_0191b7c26d4e7cc28a113f2b4c5d6e7f")]
    pub staff_id: StaffId,
    /// The method and route template.
    #[schema(example = "PATCH /v1/admin/products/{product_id}")]
    pub action: String,
    /// The request path.
    #[schema(example = "/v1/admin/products/prod_0191b7c26d4e7cc28a113f2b4c5d6e7f")]
    pub resource: String,
    #[schema(example = "2026-11-22T04:39:36.123Z")]
    pub at: String,
    /// The TCP peer address the request came from.
    #[schema(required = true, example = "192.0.2.10")]
    pub client_addr: Option<String>,
    #[schema(required = true, example = "0191b7c2-6d4e-7cc2-8a11-3f2b4c5d6e7f")]
    pub request_id: Option<String>,
}

impl From<AuditEntry> for AuditEntryDto {
    fn from(entry: AuditEntry) -> AuditEntryDto {
        AuditEntryDto {
            id: entry.id,
            staff_id: entry.staff,
            action: entry.action,
            resource: entry.resource,
            at: entry.at.to_rfc3339(),
            client_addr: entry.client_addr.map(|addr| addr.to_string()),
            request_id: entry.request_id,
        }
    }
}

/// One page of the audit log, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AuditList {
    pub items: Vec<AuditEntryDto>,
    /// Pass as `cursor` for older entries; `null` on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_travel_as_lower_case_words_and_convert_both_ways() {
        for role in Role::ALL {
            let dto = RoleDto::from(role);
            assert_eq!(Role::from(dto), role);
            let json = serde_json::to_value(dto).unwrap_or_default();
            assert_eq!(json, role.as_str());
        }
        assert!(serde_json::from_str::<RoleDto>(r#""Owner""#).is_err());
    }
}

//! What each role may do, as sets of permissions rather than ranks: a
//! `user` is not "more" than a `viewer`, it sees less (its own chats) and may
//! do something else (edit them). Routes demand a permission (see
//! `http::SignedIn`), so a route that reads the whole org cannot be written
//! without saying so.
//!
//! | permission | superadmin | admin | viewer | user |
//! |---|---|---|---|---|
//! | `ReadAllChats` | yes | yes | yes | |
//! | `ReadOwnChats` | yes | yes | yes | yes |
//! | `EditAllChats` | yes | yes | | |
//! | `EditOwnChats` | yes | yes | | yes |
//! | `DeleteChats` | yes | yes | | |
//! | `ReadAnalytics`, `Export` | yes | yes | yes | |
//! | `ManageKeys`, `ManageUsers`, `ManageOrg` | yes | yes | | |
//! | `ManageAllOrgs` (the org directory, `?org=`) | yes | | | |
//!
//! Everyone signed in reads their own org's profile and manages themselves.
//!
//! [`ChatScope`] is what the chat permissions leave a signed-in user to see.

use super::{Chat, EndUserId, User, UserRole};

/// One thing a role may do. The API names them in snake_case
/// (`read_all_chats`), as `GET /users/me` lists them.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
#[repr(u16)]
pub enum Permission {
    /// Every chat of the org, and its messages.
    ReadAllChats = 1 << 0,
    /// The chats whose end user is the signed-in user's email address.
    ReadOwnChats = 1 << 1,
    EditAllChats = 1 << 2,
    EditOwnChats = 1 << 3,
    DeleteChats = 1 << 4,
    /// Org-wide figures: only for roles that read every chat.
    ReadAnalytics = 1 << 5,
    /// Org-wide files: only for roles that read every chat.
    Export = 1 << 6,
    ManageKeys = 1 << 7,
    ManageUsers = 1 << 8,
    ManageOrg = 1 << 9,
    /// Every org: the directory, creating orgs, acting on any org with `?org=`.
    ManageAllOrgs = 1 << 10,
}

impl Permission {
    pub const ALL: [Permission; 11] = [
        Permission::ReadAllChats,
        Permission::ReadOwnChats,
        Permission::EditAllChats,
        Permission::EditOwnChats,
        Permission::DeleteChats,
        Permission::ReadAnalytics,
        Permission::Export,
        Permission::ManageKeys,
        Permission::ManageUsers,
        Permission::ManageOrg,
        Permission::ManageAllOrgs,
    ];
}

/// A set of permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Permissions(u16);

impl Permissions {
    pub const fn of(permissions: &[Permission]) -> Self {
        let mut bits = 0;
        let mut i = 0;
        while i < permissions.len() {
            bits |= permissions[i] as u16;
            i += 1;
        }
        Self(bits)
    }

    pub const fn has(self, permission: Permission) -> bool {
        self.0 & permission as u16 != 0
    }

    /// Every permission of `other` is also in `self`.
    pub const fn includes(self, other: Permissions) -> bool {
        self.0 & other.0 == other.0
    }

    /// The permissions in the set, in [`Permission::ALL`]'s order.
    pub fn list(self) -> Vec<Permission> {
        Permission::ALL
            .into_iter()
            .filter(|p| self.has(*p))
            .collect()
    }

    const fn with(self, other: Permissions) -> Self {
        Self(self.0 | other.0)
    }
}

use Permission::*;

const USER: Permissions = Permissions::of(&[ReadOwnChats, EditOwnChats]);
const VIEWER: Permissions = Permissions::of(&[ReadAllChats, ReadOwnChats, ReadAnalytics, Export]);
const ADMIN: Permissions = VIEWER.with(USER).with(Permissions::of(&[
    EditAllChats,
    DeleteChats,
    ManageKeys,
    ManageUsers,
    ManageOrg,
]));
const SUPERADMIN: Permissions = ADMIN.with(Permissions::of(&[ManageAllOrgs]));

/// What `role` may do.
pub const fn permissions(role: UserRole) -> Permissions {
    match role {
        UserRole::Superadmin => SUPERADMIN,
        UserRole::Admin => ADMIN,
        UserRole::User => USER,
        UserRole::Viewer => VIEWER,
    }
}

/// Who may give whom which role: nobody grants a role that may do
/// something they may not, and nobody manages (changes, disables, deletes)
/// a user who may do something they may not. So an admin grants and
/// manages viewers, users and admins, never a superadmin.
pub fn may_grant(granter: UserRole, role: UserRole) -> bool {
    permissions(granter).includes(permissions(role))
}

/// The roles `granter` may give (see [`may_grant`]), in [`UserRole::ALL`]'s order.
pub fn grantable_roles(granter: UserRole) -> Vec<UserRole> {
    UserRole::ALL
        .into_iter()
        .filter(|role| may_grant(granter, *role))
        .collect()
}

/// See [`may_grant`]: managing a user is granting their role again.
pub fn may_manage(manager: &User, target: &User) -> bool {
    may_grant(manager.role, target.role)
}

/// Which of its org's chats a signed-in user may see (or edit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatScope {
    /// Every chat of the org.
    WholeOrg,
    /// Only the chats whose `user_id` is their email address (`None` when
    /// the address cannot be an end-user id: over 128 characters; such a
    /// user owns no chats).
    OwnChats(Option<EndUserId>),
}

impl ChatScope {
    /// The scope of `user` where the whole org takes `whole_org` (reading
    /// or editing every chat); without it, their own chats.
    pub fn of(user: &User, whole_org: Permission) -> Self {
        if permissions(user.role).has(whole_org) {
            ChatScope::WholeOrg
        } else {
            ChatScope::OwnChats(EndUserId::parse(user.email.as_str()).ok())
        }
    }

    pub fn allows(&self, chat: &Chat) -> bool {
        match self {
            ChatScope::WholeOrg => true,
            ChatScope::OwnChats(own) => own.is_some() && chat.user_id == *own,
        }
    }
}

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;

    use super::*;
    use crate::domain::{ChatId, Metadata, Tags};

    fn chat(user_id: Option<&str>) -> Chat {
        Chat {
            id: ChatId::new(),
            title: None,
            tags: Tags::default(),
            metadata: Metadata::default(),
            user_id: user_id.map(|u| EndUserId::parse(u).unwrap()),
            key_id: None,
            created_at: OffsetDateTime::now_utc(),
        }
    }

    #[test]
    fn a_users_scope_is_their_own_chats_only() {
        let own = ChatScope::OwnChats(Some(EndUserId::parse("ann@acme.example").unwrap()));
        assert!(own.allows(&chat(Some("ann@acme.example"))));
        assert!(!own.allows(&chat(Some("bob@acme.example"))));
        assert!(!own.allows(&chat(None)), "an anonymous chat is nobody's");
        let nobody = ChatScope::OwnChats(None);
        assert!(!nobody.allows(&chat(None)));
        assert!(ChatScope::WholeOrg.allows(&chat(None)));
    }

    #[test]
    fn a_user_is_not_above_a_viewer_nor_below() {
        let (user, viewer) = (permissions(UserRole::User), permissions(UserRole::Viewer));
        assert!(!user.includes(viewer) && !viewer.includes(user));
        assert!(user.has(ReadOwnChats) && !user.has(ReadAllChats));
        assert!(!user.has(ReadAnalytics) && !user.has(Export));
        assert!(viewer.has(ReadAnalytics) && !viewer.has(EditOwnChats));
    }

    #[test]
    fn every_permission_is_listed_once() {
        let all = Permissions::of(&Permission::ALL);
        assert_eq!(all.list(), Permission::ALL);
        assert_eq!(
            permissions(UserRole::User).list(),
            [ReadOwnChats, EditOwnChats]
        );
        assert_eq!(
            serde_json::to_value(ManageAllOrgs).unwrap(),
            serde_json::json!("manage_all_orgs")
        );
    }

    #[test]
    fn org_wide_reads_go_with_reading_every_chat() {
        for role in UserRole::ALL {
            let p = permissions(role);
            for org_wide in [ReadAnalytics, Export] {
                assert!(
                    !p.has(org_wide) || p.has(ReadAllChats),
                    "{role:?} {org_wide:?}"
                );
            }
        }
    }

    #[test]
    fn grants_never_reach_above_the_granter() {
        use UserRole::*;
        let allowed = grantable_roles;
        assert_eq!(allowed(Superadmin), [Superadmin, Admin, User, Viewer]);
        assert_eq!(allowed(Admin), [Admin, User, Viewer]);
        assert_eq!(allowed(User), [User]);
        assert_eq!(allowed(Viewer), [Viewer]);
    }
}

//! Access control lists and the recycle bin.
//!
//! Paths and shapes: `shared/api/opentext-orangelogic.md` §1.4 (rows "ACL" and "Recycle bin") and
//! §1.5 (permits), from OpenText's samples:
//!
//! - the contract-approval sample (S1, `src/components/AddContract.jsx`) finds an ACL with
//!   `GET {cms}/permissions?filter=name eq 'created'` and files an instance under it with
//!   `acl_id` (`_embedded.collection[0].id`);
//! - the `OT_alpaca` explorer (S4, `ACLProps.jsx`, `PermitsView.jsx`, `RecycleBin.jsx`,
//!   `RestoreItem.jsx`) reads ACLs as `{id, name, description, named, permits:[{identity,
//!   identity_type, permissions[]}]}`, assigns one with `PUT …/{id}/acl` `{"id": aclId}` (folders:
//!   `?recursive=&force=`), lists the recycle bin with
//!   `GET {cms}/deleted?include-total&page&items-per-page&sortby` and restores with
//!   `PUT {cms}/deleted/{id}/restore[?all-version=true|recursive=true]`.
//!
//! Identity types and permission names are **open enums**: the values the samples show are
//! variants, anything else is kept as `Other(text)` and written back unchanged.

use std::fmt;

use reqwest::Method;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::client::{Repeat, json_body};
use crate::http::set_query;
use crate::model::null_as_empty;
use crate::paging::Listing;
use crate::{Category, Client, DeleteOptions, Error, HalPage, Instance, ListQuery, filter};

macro_rules! open_enum {
    (
        $(#[$meta:meta])*
        $name:ident { $( $(#[$vmeta:meta])* $variant:ident => $text:literal ),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// Any other value, kept as sent.
            Other(String),
        }

        impl $name {
            /// The wire text.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $text, )+
                    Self::Other(s) => s,
                }
            }

            /// The variant for `text` (exact match), else [`Self::Other`].
            pub fn parse(text: &str) -> Self {
                match text {
                    $( $text => Self::$variant, )+
                    other => Self::Other(other.to_owned()),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                Ok(Self::parse(&String::deserialize(d)?))
            }
        }
    };
}

open_enum! {
    /// Who a [`Permit`] is for (`identity_type`; values from the `OT_alpaca` explorer, S4).
    IdentityType {
        /// `user`.
        User => "user",
        /// `role`.
        Role => "role",
        /// `user_alias` (e.g. the owner).
        UserAlias => "user_alias",
        /// `role_alias`.
        RoleAlias => "role_alias",
        /// `tenant_group`.
        TenantGroup => "tenant_group",
        /// `subscription_group`.
        SubscriptionGroup => "subscription_group",
        /// `case_role`.
        CaseRole => "case_role",
    }
}

open_enum! {
    /// One permission of a [`Permit`]. The variants are the names OpenText's samples show: the
    /// `OT_alpaca` permit editor (S4) and the contract-approval sample's `created.otacl` (S1).
    Permission {
        /// `browse`.
        Browse => "browse",
        /// `read_content`.
        ReadContent => "read_content",
        /// `relate`.
        Relate => "relate",
        /// `lock`.
        Lock => "lock",
        /// `write`.
        Write => "write",
        /// `write_content`.
        WriteContent => "write_content",
        /// `delete`.
        Delete => "delete",
        /// `change_permission`.
        ChangePermission => "change_permission",
        /// `change_owner`.
        ChangeOwner => "change_owner",
        /// `change_location`.
        ChangeLocation => "change_location",
        /// `change_folder_links`.
        ChangeFolderLinks => "change_folder_links",
        /// `create_link`.
        CreateLink => "create_link",
        /// `delete_link`.
        DeleteLink => "delete_link",
        /// `add_member`.
        AddMember => "add_member",
        /// `delete_member`.
        DeleteMember => "delete_member",
        /// `show_members`.
        ShowMembers => "show_members",
        /// `apply_policy`.
        ApplyPolicy => "apply_policy",
        /// `remove_policy`.
        RemovePolicy => "remove_policy",
        /// `apply_hold`.
        ApplyHold => "apply_hold",
        /// `remove_hold`.
        RemoveHold => "remove_hold",
        /// `version`.
        Version => "version",
        /// `modify` (`.otacl` resource files).
        Modify => "modify",
        /// `attributes` (`.otacl`).
        Attributes => "attributes",
        /// `create_version` (`.otacl`).
        CreateVersion => "create_version",
        /// `add_move_items` (`.otacl`).
        AddMoveItems => "add_move_items",
        /// `delete_content` (`.otacl`).
        DeleteContent => "delete_content",
        /// `edit_permissions` (`.otacl`).
        EditPermissions => "edit_permissions",
    }
}

/// One entry of an [`Acl`]: `{identity, identity_type, permissions[], email?, group_name?}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Permit {
    /// The user, role or alias (e.g. `owner`).
    #[serde(default)]
    pub identity: String,
    /// What `identity` is.
    pub identity_type: IdentityType,
    /// The permissions granted.
    #[serde(default)]
    pub permissions: Vec<Permission>,
    /// The user's e-mail, when the service resolves it (read only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The group's name, when the service resolves it (read only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_name: Option<String>,
    /// Every other field.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Permit {
    /// A permit for `identity` of `identity_type` with `permissions`.
    pub fn new(
        identity: impl Into<String>,
        identity_type: IdentityType,
        permissions: impl IntoIterator<Item = Permission>,
    ) -> Self {
        Self {
            identity: identity.into(),
            identity_type,
            permissions: permissions.into_iter().collect(),
            email: None,
            group_name: None,
            extra: Map::new(),
        }
    }
}

/// An access control list: an item of `GET {cms}/permissions` and `GET {cms}/permissions/{id}`:
/// `{id, name, description?, named?, permits[], _links}`. Unknown fields are kept in `extra`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Acl {
    /// The ACL id (what an instance's `acl_id` holds).
    #[serde(default)]
    pub id: String,
    /// The ACL name (e.g. `created`).
    #[serde(default)]
    pub name: String,
    /// `description`, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `named`: a named (reusable) ACL rather than one made for a single instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub named: Option<bool>,
    /// The permits.
    #[serde(default)]
    pub permits: Vec<Permit>,
    /// HAL links.
    #[serde(rename = "_links", default, deserialize_with = "null_as_empty")]
    pub links: Map<String, Value>,
    /// Every other field.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Query parameters of [`Client::set_instance_acl`]: `recursive` and `force` (folders only;
/// not sent when `None`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AclOptions {
    /// `recursive`: apply to the folder's content as well.
    pub recursive: Option<bool>,
    /// `force`: replace ACLs the content already has.
    pub force: Option<bool>,
}

impl AclOptions {
    /// No parameters.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `recursive`.
    pub fn recursive(mut self, yes: bool) -> Self {
        self.recursive = Some(yes);
        self
    }

    /// Sets `force`.
    pub fn force(mut self, yes: bool) -> Self {
        self.force = Some(yes);
        self
    }

    fn pairs(self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        if let Some(r) = self.recursive {
            pairs.push(("recursive", r.to_string()));
        }
        if let Some(f) = self.force {
            pairs.push(("force", f.to_string()));
        }
        pairs
    }
}

/// ACLs.
impl Client {
    /// One page of ACLs: `GET {cms}/permissions?filter=…&page=…&items-per-page=…` (e.g.
    /// `filter=name eq 'created'`, [`filter::eq`]).
    ///
    /// # Errors
    ///
    /// As [`Client::list_instances`].
    pub async fn list_acls(&self, query: &ListQuery) -> Result<HalPage<Acl>, Error> {
        let mut url = self.cms_url(&["permissions"])?;
        set_query(&mut url, &query.pairs());
        self.cms_json(Method::GET, url, None, Repeat::Safe, "ACL collection")
            .await
    }

    /// Every ACL matching `query` (`GET {cms}/permissions?…`), as a [`Listing`];
    /// [`Client::list_acls`] reads one page.
    ///
    /// ```no_run
    /// use chatport_opentext::{Client, ListQuery};
    /// use futures::TryStreamExt as _;
    ///
    /// # async fn run(cms: Client) -> Result<(), chatport_opentext::Error> {
    /// let mut acls = cms.acls(&ListQuery::new()).items();
    /// while let Some(acl) = acls.try_next().await? {
    ///     println!("{}", acl.name);
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Client::instances`].
    pub fn acls(&self, query: &ListQuery) -> Listing<Acl> {
        self.collection(&["permissions"], query, "ACL collection")
    }

    /// The ACL named `name` (`GET {cms}/permissions?filter=name eq '{name}'`, the first match),
    /// as the contract-approval sample looks up its `created` ACL; `None` when there is none.
    ///
    /// # Errors
    ///
    /// As [`Client::list_acls`].
    pub async fn find_acl(&self, name: &str) -> Result<Option<Acl>, Error> {
        let query = ListQuery::new()
            .filter(filter::eq("name", name))
            .items_per_page(1);
        Ok(self.list_acls(&query).await?.items.into_iter().next())
    }

    /// One ACL: `GET {cms}/permissions/{id}`.
    ///
    /// # Errors
    ///
    /// As [`Client::get_instance`].
    pub async fn get_acl(&self, id: &str) -> Result<Acl, Error> {
        let url = self.cms_url(&["permissions", id])?;
        self.cms_json(Method::GET, url, None, Repeat::Safe, "ACL")
            .await
    }

    /// The ACL an instance is under: `GET {cms}/instances/{category}/{type}/{id}/acl`.
    ///
    /// # Errors
    ///
    /// As [`Client::get_instance`].
    pub async fn get_instance_acl(
        &self,
        category: Category,
        type_name: &str,
        id: &str,
    ) -> Result<Acl, Error> {
        let url = self.cms_url(&["instances", category.as_str(), type_name, id, "acl"])?;
        self.cms_json(Method::GET, url, None, Repeat::Safe, "ACL")
            .await
    }

    /// Puts an instance under the ACL `acl_id`:
    /// `PUT {cms}/instances/{category}/{type}/{id}/acl[?recursive=&force=]` with
    /// `{"id": acl_id}`. The answer's body is not documented and is ignored. Idempotent, so
    /// retried in-client like a GET.
    ///
    /// # Errors
    ///
    /// As [`Client::update_instance`]; an unknown ACL is an error status.
    pub async fn set_instance_acl(
        &self,
        category: Category,
        type_name: &str,
        id: &str,
        acl_id: &str,
        options: AclOptions,
    ) -> Result<(), Error> {
        let mut url = self.cms_url(&["instances", category.as_str(), type_name, id, "acl"])?;
        set_query(&mut url, &options.pairs());
        let body = json_body(&serde_json::json!({ "id": acl_id }), "ACL assignment")?;
        self.cms_no_content(Method::PUT, url, Some(body), Repeat::Safe)
            .await
    }
}

/// The recycle bin: what [`Client::soft_delete_instance`] put there.
impl Client {
    /// One page of the recycle bin: `GET {cms}/deleted?include-total&page&items-per-page&sortby`.
    /// Items are instances (`category`, `type`, `name`, `version_no`, times, …).
    ///
    /// # Errors
    ///
    /// As [`Client::list_instances`].
    pub async fn list_deleted(&self, query: &ListQuery) -> Result<HalPage<Instance>, Error> {
        let mut url = self.cms_url(&["deleted"])?;
        set_query(&mut url, &query.pairs());
        self.cms_json(Method::GET, url, None, Repeat::Safe, "recycle bin")
            .await
    }

    /// Every item of the recycle bin matching `query` (`GET {cms}/deleted?…`), as a
    /// [`Listing`]; [`Client::list_deleted`] reads one page.
    ///
    /// ```no_run
    /// use chatport_opentext::{Client, ListQuery};
    /// use futures::TryStreamExt as _;
    ///
    /// # async fn run(cms: Client) -> Result<(), chatport_opentext::Error> {
    /// let mut deleted = cms.deleted(&ListQuery::new().items_per_page(50)).items();
    /// while let Some(instance) = deleted.try_next().await? {
    ///     println!("{}", instance.id);
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Client::instances`].
    pub fn deleted(&self, query: &ListQuery) -> Listing<Instance> {
        self.collection(&["deleted"], query, "recycle bin")
    }

    /// One item of the recycle bin: `GET {cms}/deleted/{id}`.
    ///
    /// # Errors
    ///
    /// As [`Client::get_instance`]; an id not in the bin is a 404.
    pub async fn get_deleted(&self, id: &str) -> Result<Instance, Error> {
        let url = self.cms_url(&["deleted", id])?;
        self.cms_json(Method::GET, url, None, Repeat::Safe, "deleted instance")
            .await
    }

    /// Restores an item from the recycle bin: `PUT {cms}/deleted/{id}/restore` with
    /// `?all-version=true` (every version of a file) and/or `?recursive=true` (a folder and its
    /// content) from `options`. The answer's body is ignored. Repeated in-client only after a
    /// 429 (a repeat after an ambiguous failure would answer 404 for a restore that worked).
    ///
    /// # Errors
    ///
    /// As [`Client::update_instance`].
    pub async fn restore_deleted(&self, id: &str, options: DeleteOptions) -> Result<(), Error> {
        let mut url = self.cms_url(&["deleted", id, "restore"])?;
        set_query(&mut url, &options.pairs());
        self.cms_no_content(Method::PUT, url, None, Repeat::Once)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn acl_shapes_round_trip_with_open_enums() {
        let acl: Acl = serde_json::from_value(json!({
            "id": "acl-1", "name": "created", "named": true,
            "permits": [
                {"identity": "owner", "identity_type": "user_alias",
                 "permissions": ["browse", "read_content", "edit_permissions", "teleport"]},
                {"identity": "g1", "identity_type": "team", "permissions": [],
                 "group_name": "Approvers"}
            ],
            "_links": {"self": {"href": "/cms/permissions/acl-1"}},
            "create_time": "2024-01-01T00:00:00Z"
        }))
        .unwrap();
        assert_eq!(acl.permits[0].identity_type, IdentityType::UserAlias);
        assert_eq!(
            acl.permits[0].permissions,
            vec![
                Permission::Browse,
                Permission::ReadContent,
                Permission::EditPermissions,
                Permission::Other("teleport".into())
            ]
        );
        assert_eq!(
            acl.permits[1].identity_type,
            IdentityType::Other("team".into())
        );
        assert_eq!(acl.extra["create_time"], "2024-01-01T00:00:00Z");
        let back = serde_json::to_value(&acl.permits[0]).unwrap();
        assert_eq!(back["identity_type"], "user_alias");
        assert_eq!(back["permissions"][3], "teleport");
        let permit = Permit::new("r1", IdentityType::Role, [Permission::Browse]);
        assert_eq!(
            serde_json::to_value(&permit).unwrap(),
            json!({"identity": "r1", "identity_type": "role", "permissions": ["browse"]})
        );
    }

    #[test]
    fn acl_options_pairs() {
        assert!(AclOptions::new().pairs().is_empty());
        assert_eq!(
            AclOptions::new().recursive(true).force(false).pairs(),
            vec![("recursive", "true".into()), ("force", "false".into())]
        );
    }
}

//! What every org has without the seed saying so: the system fields of
//! each record, the key prefixes of standard objects, and the `User` object.

use super::{FieldDef, FieldType};
use crate::seed::{FieldSeed, ObjectSeed};

fn system(name: &str, ftype: FieldType, nillable: bool) -> FieldDef {
    FieldDef {
        name: name.to_string(),
        label: name.to_string(),
        ftype,
        length: if ftype == FieldType::Id || ftype == FieldType::Reference {
            18
        } else {
            0
        },
        precision: 0,
        scale: 0,
        nillable,
        createable: false,
        updateable: false,
        external_id: false,
        unique: false,
        id_lookup: ftype == FieldType::Id,
        default: None,
        reference_to: if ftype == FieldType::Reference {
            vec!["User".to_string()]
        } else {
            Vec::new()
        },
        relationship_name: None,
        values: Vec::new(),
        custom: false,
        system: true,
        child_name: None,
    }
}

pub(super) fn system_fields(is_event: bool) -> Vec<FieldDef> {
    let mut created_by = system("CreatedById", FieldType::Reference, false);
    created_by.relationship_name = Some("CreatedBy".to_string());
    if is_event {
        let mut uuid = system("EventUuid", FieldType::String, true);
        uuid.length = 36;
        let mut replay = system("ReplayId", FieldType::String, true);
        replay.length = 255;
        return vec![
            system("CreatedDate", FieldType::Datetime, false),
            created_by,
            uuid,
            replay,
        ];
    }
    let mut modified_by = system("LastModifiedById", FieldType::Reference, false);
    modified_by.relationship_name = Some("LastModifiedBy".to_string());
    vec![
        system("Id", FieldType::Id, false),
        system("IsDeleted", FieldType::Boolean, false),
        system("CreatedDate", FieldType::Datetime, false),
        created_by,
        system("LastModifiedDate", FieldType::Datetime, false),
        modified_by,
        system("SystemModstamp", FieldType::Datetime, false),
    ]
}

/// Key prefixes of common standard objects.
pub(super) fn standard_prefix(name: &str) -> Option<&'static str> {
    Some(match name {
        "Account" => "001",
        "Contact" => "003",
        "User" => "005",
        "Opportunity" => "006",
        "Lead" => "00Q",
        "Task" => "00T",
        "Event" => "00U",
        "Case" => "500",
        "Campaign" => "701",
        "Contract" => "800",
        "Order" => "801",
        "Product2" => "01t",
        "Asset" => "02i",
        _ => return None,
    })
}

/// The implicit `User` object (when the seed defines none).
pub(super) fn user_object() -> ObjectSeed {
    let field = |name: &str, t: &str| FieldSeed {
        name: name.to_string(),
        field_type: t.to_string(),
        label: None,
        length: None,
        precision: None,
        scale: None,
        required: false,
        external_id: false,
        unique: false,
        createable: true,
        updateable: true,
        default: None,
        reference_to: Vec::new(),
        relationship_name: None,
        child_relationship_name: None,
        values: Vec::new(),
    };
    let mut username = field("Username", "string");
    username.required = true;
    username.unique = true;
    let mut active = field("IsActive", "boolean");
    active.default = Some(serde_json::Value::Bool(true));
    ObjectSeed {
        name: "User".to_string(),
        change_events: Some(false),
        fields: vec![
            username,
            field("Name", "string"),
            field("Email", "email"),
            active,
        ],
        ..ObjectSeed::default()
    }
}

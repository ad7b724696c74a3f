//! The org's metadata: sObjects and their fields, built from the seed. The
//! system fields every record has (`Id`, `IsDeleted`, `CreatedDate`,
//! `CreatedById`, `LastModifiedDate`, `LastModifiedById`, `SystemModstamp`)
//! are added here, and an implicit `User` object holds the org's users so
//! `CreatedBy.Name` resolves. Lookups by name are case-insensitive, as in
//! Salesforce; records and answers use the declared spelling.

use crate::seed::{FieldSeed, ObjectSeed, Seed};
use crate::soql::{self, Expr};
use standard::{standard_prefix, system_fields, user_object};
use std::collections::HashMap;

mod standard;

/// A field's data type, as `describe` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// The record id.
    Id,
    /// Short text.
    String,
    /// Long text.
    Textarea,
    /// An email address.
    Email,
    /// A phone number.
    Phone,
    /// A URL.
    Url,
    /// One of a list of values (not restricted).
    Picklist,
    /// true/false.
    Boolean,
    /// A whole number.
    Int,
    /// A floating-point number.
    Double,
    /// Money.
    Currency,
    /// A percentage.
    Percent,
    /// `YYYY-MM-DD`.
    Date,
    /// A timestamp.
    Datetime,
    /// The id of another record.
    Reference,
}

impl FieldType {
    /// Parses a seed type name.
    pub fn parse(name: &str) -> Option<FieldType> {
        Some(match name.to_ascii_lowercase().as_str() {
            "id" => FieldType::Id,
            "string" | "text" => FieldType::String,
            "textarea" => FieldType::Textarea,
            "email" => FieldType::Email,
            "phone" => FieldType::Phone,
            "url" => FieldType::Url,
            "picklist" => FieldType::Picklist,
            "boolean" | "checkbox" => FieldType::Boolean,
            "int" | "integer" => FieldType::Int,
            "double" | "number" => FieldType::Double,
            "currency" => FieldType::Currency,
            "percent" => FieldType::Percent,
            "date" => FieldType::Date,
            "datetime" => FieldType::Datetime,
            "reference" | "lookup" => FieldType::Reference,
            _ => return None,
        })
    }

    /// The `type` of `describe`.
    pub fn describe_name(self) -> &'static str {
        match self {
            FieldType::Id => "id",
            FieldType::String => "string",
            FieldType::Textarea => "textarea",
            FieldType::Email => "email",
            FieldType::Phone => "phone",
            FieldType::Url => "url",
            FieldType::Picklist => "picklist",
            FieldType::Boolean => "boolean",
            FieldType::Int => "int",
            FieldType::Double => "double",
            FieldType::Currency => "currency",
            FieldType::Percent => "percent",
            FieldType::Date => "date",
            FieldType::Datetime => "datetime",
            FieldType::Reference => "reference",
        }
    }

    /// The `soapType` of `describe`.
    pub fn soap_type(self) -> &'static str {
        match self {
            FieldType::Id | FieldType::Reference => "tns:ID",
            FieldType::Boolean => "xsd:boolean",
            FieldType::Int => "xsd:int",
            FieldType::Double | FieldType::Currency | FieldType::Percent => "xsd:double",
            FieldType::Date => "xsd:date",
            FieldType::Datetime => "xsd:dateTime",
            _ => "xsd:string",
        }
    }

    /// Text-valued types (string comparisons, LIKE, length limits).
    pub fn is_text(self) -> bool {
        matches!(
            self,
            FieldType::String
                | FieldType::Textarea
                | FieldType::Email
                | FieldType::Phone
                | FieldType::Url
                | FieldType::Picklist
        )
    }

    /// Number-valued types.
    pub fn is_number(self) -> bool {
        matches!(
            self,
            FieldType::Int | FieldType::Double | FieldType::Currency | FieldType::Percent
        )
    }
}

/// One field of an sObject.
#[derive(Debug, Clone)]
pub struct FieldDef {
    /// API name.
    pub name: String,
    /// Label.
    pub label: String,
    /// Data type.
    pub ftype: FieldType,
    /// Maximum length (text).
    pub length: u32,
    /// Digits (numbers).
    pub precision: u32,
    /// Digits after the point (numbers).
    pub scale: u32,
    /// May be null.
    pub nillable: bool,
    /// May be set on create.
    pub createable: bool,
    /// May be set on update.
    pub updateable: bool,
    /// An external id.
    pub external_id: bool,
    /// Values are unique.
    pub unique: bool,
    /// Usable as a lookup key (Id and external ids).
    pub id_lookup: bool,
    /// Default on create.
    pub default: Option<serde_json::Value>,
    /// Referenced objects.
    pub reference_to: Vec<String>,
    /// Parent relationship name.
    pub relationship_name: Option<String>,
    /// Picklist values.
    pub values: Vec<String>,
    /// Custom field (`__c`).
    pub custom: bool,
    /// Maintained by the emulator (Id, audit fields).
    pub system: bool,
    /// The child relationship name this reference gives its parent.
    pub child_name: Option<String>,
}

/// A child relationship (`Contacts` on Account), for parent-to-child subqueries.
#[derive(Debug, Clone)]
pub struct ChildRel {
    /// Relationship name used in subqueries.
    pub name: String,
    /// The child sObject.
    pub child: String,
    /// The child's reference field.
    pub field: String,
}

/// A validation rule compiled from the seed.
#[derive(Debug, Clone)]
pub struct ValidationRule {
    /// Rule name.
    pub name: String,
    /// Condition under which the save fails.
    pub when: Expr,
    /// Error message.
    pub message: String,
    /// Field the error is about.
    pub field: Option<String>,
}

/// One sObject type.
#[derive(Debug, Clone)]
pub struct ObjectDef {
    /// API name.
    pub name: String,
    /// Label.
    pub label: String,
    /// Plural label.
    pub label_plural: String,
    /// Key prefix of its ids.
    pub key_prefix: String,
    /// Custom object (`__c`).
    pub custom: bool,
    /// A platform event (`__e`).
    pub is_event: bool,
    /// Writes publish change events.
    pub change_events: bool,
    /// Fields, system ones first.
    pub fields: Vec<FieldDef>,
    /// Child relationships pointing at this object.
    pub children: Vec<ChildRel>,
    /// Validation rules.
    pub rules: Vec<ValidationRule>,
    by_lower: HashMap<String, usize>,
    rel_by_lower: HashMap<String, usize>,
}

impl ObjectDef {
    /// A field by name, case-insensitively.
    pub fn field(&self, name: &str) -> Option<&FieldDef> {
        self.by_lower
            .get(&name.to_ascii_lowercase())
            .and_then(|&i| self.fields.get(i))
    }

    /// The reference field behind a parent relationship name (`Account` → `AccountId`).
    pub fn relationship(&self, name: &str) -> Option<&FieldDef> {
        self.rel_by_lower
            .get(&name.to_ascii_lowercase())
            .and_then(|&i| self.fields.get(i))
    }

    /// A child relationship by name.
    pub fn child(&self, name: &str) -> Option<&ChildRel> {
        self.children
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
    }

    /// The channel of this object's change events (`/data/AccountChangeEvent`).
    pub fn change_channel(&self) -> String {
        match self.name.strip_suffix("__c") {
            Some(base) => format!("/data/{base}__ChangeEvent"),
            None => format!("/data/{}ChangeEvent", self.name),
        }
    }
}

/// Every sObject of the org.
#[derive(Debug, Clone, Default)]
pub struct Schema {
    /// Objects in seed order (`User` first).
    pub objects: Vec<ObjectDef>,
    by_lower: HashMap<String, usize>,
}

impl Schema {
    /// An object by name, case-insensitively.
    pub fn object(&self, name: &str) -> Option<&ObjectDef> {
        self.index(name).and_then(|i| self.objects.get(i))
    }

    /// The index of an object by name.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.by_lower.get(&name.to_ascii_lowercase()).copied()
    }

    /// The object whose ids carry this key prefix.
    pub fn by_prefix(&self, id: &str) -> Option<usize> {
        let prefix = id.get(..3)?;
        self.objects.iter().position(|o| o.key_prefix == prefix)
    }

    /// Builds the metadata of a seed; the message names what is wrong.
    pub fn build(seed: &Seed) -> Result<Schema, String> {
        let mut seeds: Vec<ObjectSeed> = seed.objects.clone();
        if !seeds.iter().any(|o| o.name.eq_ignore_ascii_case("User")) {
            seeds.insert(0, user_object());
        }
        let mut used_prefixes: Vec<String> = Vec::new();
        let mut objects = Vec::new();
        let (mut custom_n, mut event_n) = (0u32, 0u32);
        for o in &seeds {
            if o.name.is_empty()
                || !o
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return Err(format!("object name `{}` is not an API name", o.name));
            }
            let is_event = o.name.ends_with("__e");
            let prefix = match &o.key_prefix {
                Some(p) if p.len() == 3 && p.bytes().all(|c| c.is_ascii_alphanumeric()) => {
                    p.clone()
                }
                Some(p) => {
                    return Err(format!(
                        "object `{}`: key_prefix `{p}` is not 3 letters or digits",
                        o.name
                    ));
                }
                None => loop {
                    let candidate =
                        standard_prefix(&o.name)
                            .map(str::to_string)
                            .unwrap_or_else(|| {
                                if is_event {
                                    event_n += 1;
                                    format!("e{:02}", event_n - 1)
                                } else {
                                    custom_n += 1;
                                    format!("a{:02}", custom_n - 1)
                                }
                            });
                    if !used_prefixes.contains(&candidate) || standard_prefix(&o.name).is_some() {
                        break candidate;
                    }
                },
            };
            if used_prefixes.contains(&prefix) {
                return Err(format!(
                    "object `{}`: key prefix `{prefix}` is used twice",
                    o.name
                ));
            }
            used_prefixes.push(prefix.clone());
            objects.push(object_def(o, prefix, is_event)?);
        }
        let mut schema = Schema {
            by_lower: objects
                .iter()
                .enumerate()
                .map(|(i, o)| (o.name.to_ascii_lowercase(), i))
                .collect(),
            objects,
        };
        if schema.by_lower.len() != schema.objects.len() {
            return Err("two objects have the same name".to_string());
        }
        schema.link()?;
        Ok(schema)
    }

    /// Checks references and builds child relationships.
    fn link(&mut self) -> Result<(), String> {
        let mut children: Vec<(usize, ChildRel)> = Vec::new();
        for o in &self.objects {
            for f in &o.fields {
                if f.ftype != FieldType::Reference {
                    continue;
                }
                if f.reference_to.is_empty() {
                    return Err(format!(
                        "field `{}.{}`: a reference needs `reference_to`",
                        o.name, f.name
                    ));
                }
                for target in &f.reference_to {
                    let Some(t) = self.index(target) else {
                        return Err(format!(
                            "field `{}.{}` references `{target}`, which the seed does not define",
                            o.name, f.name
                        ));
                    };
                    if f.system {
                        continue;
                    }
                    let name = f
                        .child_name
                        .clone()
                        .unwrap_or_else(|| format!("{}s", o.name.trim_end_matches("__c")));
                    children.push((
                        t,
                        ChildRel {
                            name,
                            child: o.name.clone(),
                            field: f.name.clone(),
                        },
                    ));
                }
            }
        }
        for (t, rel) in children {
            if let Some(obj) = self.objects.get_mut(t) {
                obj.children.push(rel);
            }
        }
        Ok(())
    }
}

fn object_def(o: &ObjectSeed, key_prefix: String, is_event: bool) -> Result<ObjectDef, String> {
    let mut fields = system_fields(is_event);
    for f in &o.fields {
        if fields.iter().any(|x| x.name.eq_ignore_ascii_case(&f.name)) {
            return Err(format!(
                "object `{}`: field `{}` is defined twice (or is a system field)",
                o.name, f.name
            ));
        }
        fields.push(field_def(&o.name, f)?);
    }
    let mut rules = Vec::new();
    for r in &o.validation_rules {
        let when = soql::parse_condition(&r.when).map_err(|e| {
            format!(
                "object `{}`: validation rule `{}`: {}",
                o.name, r.name, e.message
            )
        })?;
        rules.push(ValidationRule {
            name: r.name.clone(),
            when,
            message: r.message.clone(),
            field: r.field.clone(),
        });
    }
    let label = o.label.clone().unwrap_or_else(|| {
        o.name
            .replace("__c", "")
            .replace("__e", "")
            .replace('_', " ")
    });
    Ok(ObjectDef {
        by_lower: fields
            .iter()
            .enumerate()
            .map(|(i, f)| (f.name.to_ascii_lowercase(), i))
            .collect(),
        rel_by_lower: fields
            .iter()
            .enumerate()
            .filter_map(|(i, f)| {
                f.relationship_name
                    .as_ref()
                    .map(|r| (r.to_ascii_lowercase(), i))
            })
            .collect(),
        name: o.name.clone(),
        label_plural: o
            .label_plural
            .clone()
            .unwrap_or_else(|| format!("{label}s")),
        label,
        key_prefix,
        custom: o.name.ends_with("__c"),
        is_event,
        change_events: !is_event && o.change_events.unwrap_or(true),
        fields,
        children: Vec::new(),
        rules,
    })
}

fn field_def(object: &str, f: &FieldSeed) -> Result<FieldDef, String> {
    let Some(ftype) = FieldType::parse(&f.field_type) else {
        return Err(format!(
            "field `{object}.{}`: unknown type `{}` (string, textarea, email, phone, url, picklist, boolean, int, double, currency, percent, date, datetime, reference)",
            f.name, f.field_type
        ));
    };
    if ftype == FieldType::Id {
        return Err(format!(
            "field `{object}.{}`: only the system field Id has type id",
            f.name
        ));
    }
    if f.name.is_empty()
        || !f
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(format!(
            "field name `{}` of `{object}` is not an API name",
            f.name
        ));
    }
    let relationship_name = match (&f.relationship_name, ftype) {
        (Some(r), _) => Some(r.clone()),
        (None, FieldType::Reference) => Some(default_relationship(&f.name)),
        _ => None,
    };
    Ok(FieldDef {
        name: f.name.clone(),
        label: f
            .label
            .clone()
            .unwrap_or_else(|| f.name.replace("__c", "").replace('_', " ")),
        ftype,
        length: match ftype {
            t if t.is_text() => {
                f.length
                    .unwrap_or(if t == FieldType::Textarea { 32768 } else { 255 })
            }
            FieldType::Reference => 18,
            _ => 0,
        },
        precision: if ftype.is_number() {
            f.precision.unwrap_or(18)
        } else {
            0
        },
        scale: match ftype {
            FieldType::Int => 0,
            t if t.is_number() => f.scale.unwrap_or(2),
            _ => 0,
        },
        nillable: !f.required && ftype != FieldType::Boolean,
        createable: f.createable,
        updateable: f.updateable,
        external_id: f.external_id,
        unique: f.unique,
        id_lookup: f.external_id,
        default: match (&f.default, ftype) {
            (Some(v), _) => Some(v.clone()),
            (None, FieldType::Boolean) => Some(serde_json::Value::Bool(false)),
            _ => None,
        },
        reference_to: f.reference_to.clone(),
        relationship_name,
        values: f.values.clone(),
        custom: f.name.ends_with("__c"),
        system: false,
        child_name: f.child_relationship_name.clone(),
    })
}

/// `AccountId` → `Account`, `Parent__c` → `Parent__r`.
fn default_relationship(field: &str) -> String {
    if let Some(base) = field.strip_suffix("__c") {
        return format!("{base}__r");
    }
    field.strip_suffix("Id").unwrap_or(field).to_string()
}

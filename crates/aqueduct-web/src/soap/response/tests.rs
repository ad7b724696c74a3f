//! Answers shaped like the examples of the SOAP 1.1 note (appendix A and
//! §6.4; the note's example 2 opens the envelope with a stray `/>`, fixed
//! here), and what spyne sends.

use super::*;
use aqueduct_graph::FieldType;
use aqueduct_runtime::value::Layout;
use reqwest::StatusCode;
use std::sync::Arc;

fn reply(status: u16, body: &str) -> Reply {
    Reply {
        status: StatusCode::from_u16(status).expect("a status"),
        retry_after: None,
        next_link: None,
        body: body.to_string().into_bytes().into(),
    }
}

fn schemas(types: &[(&str, &[(&str, Type)])]) -> Schemas {
    let mut s = Schemas::default();
    for (name, fields) in types {
        s.layouts.insert(
            (*name).to_string(),
            Arc::new(Layout {
                name: (*name).to_string(),
                fields: fields
                    .iter()
                    .map(|(n, t)| FieldType {
                        name: (*n).to_string(),
                        ty: t.clone(),
                        doc: Vec::new(),
                    })
                    .collect(),
            }),
        );
    }
    s
}

const PRICE: &str = r#"<SOAP-ENV:Envelope
  xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"
  SOAP-ENV:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/">
   <SOAP-ENV:Body>
       <m:GetLastTradePriceResponse xmlns:m="Some-URI">
           <Price>34.5</Price>
       </m:GetLastTradePriceResponse>
   </SOAP-ENV:Body>
</SOAP-ENV:Envelope>"#;

const PRICE_AND_VOLUME: &str = r#"<SOAP-ENV:Envelope
  xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"
  SOAP-ENV:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/">
   <SOAP-ENV:Body>
       <m:GetLastTradePriceResponse
         xmlns:m="Some-URI">
           <PriceAndVolume>
               <LastTradePrice>
                   34.5
               </LastTradePrice>
               <DayVolume>
                   10000
               </DayVolume>
           </PriceAndVolume>
       </m:GetLastTradePriceResponse>
   </SOAP-ENV:Body>
</SOAP-ENV:Envelope>"#;

const MUST_UNDERSTAND: &str = r#"<SOAP-ENV:Envelope
  xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/">
   <SOAP-ENV:Body>
       <SOAP-ENV:Fault>
           <faultcode>SOAP-ENV:MustUnderstand</faultcode>
           <faultstring>SOAP Must Understand Error</faultstring>
       </SOAP-ENV:Fault>
   </SOAP-ENV:Body>
</SOAP-ENV:Envelope>"#;

const SERVER_ERROR: &str = r#"<SOAP-ENV:Envelope
  xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/">
   <SOAP-ENV:Body>
       <SOAP-ENV:Fault>
           <faultcode>SOAP-ENV:Server</faultcode>
           <faultstring>Server Error</faultstring>
           <detail>
               <e:myfaultdetails xmlns:e="Some-URI">
                 <message>
                   My application didn't work
                 </message>
                 <errorcode>
                   1001
                 </errorcode>
               </e:myfaultdetails>
           </detail>
       </SOAP-ENV:Fault>
   </SOAP-ENV:Body>
</SOAP-ENV:Envelope>"#;

#[test]
fn reads_the_answer_into_the_declared_type() {
    let s = schemas(&[("Quote", &[("Price", Type::Decimal)])]);
    let answer = read("GetLastTradePrice", &reply(200, PRICE)).expect("an answer");
    let value = answer
        .value(&Type::Record("Quote".into()), &s)
        .expect("fits");
    assert_eq!(value.to_json_string(), r#"{"Price":34.5}"#);
}

#[test]
fn reads_nested_records_and_trims_text() {
    let s = schemas(&[
        ("Answer", &[("PriceAndVolume", Type::Record("Pv".into()))]),
        (
            "Pv",
            &[("LastTradePrice", Type::Decimal), ("DayVolume", Type::Int)],
        ),
    ]);
    let answer = read("q", &reply(200, PRICE_AND_VOLUME)).expect("an answer");
    let value = answer
        .value(&Type::Record("Answer".into()), &s)
        .expect("fits");
    assert_eq!(
        value.to_json_string(),
        r#"{"PriceAndVolume":{"LastTradePrice":34.5,"DayVolume":10000}}"#
    );
}

#[test]
fn a_value_that_does_not_convert_is_an_error() {
    let s = schemas(&[("Quote", &[("Price", Type::Int)])]);
    let answer = read("q", &reply(200, PRICE)).expect("an answer");
    assert_eq!(
        answer.value(&Type::Record("Quote".into()), &s),
        Err("field `Price`: expected int, found `34.5`".to_string())
    );
}

#[test]
fn faults_carry_code_and_string() {
    let Err(e) = read("Op", &reply(500, MUST_UNDERSTAND)) else {
        panic!("a fault is an error");
    };
    assert!(!e.is_retryable());
    assert_eq!(
        e.to_string(),
        "SOAP fault SOAP-ENV:MustUnderstand from Op (HTTP 500): SOAP Must Understand Error"
    );
    let Err(e) = read("Op", &reply(500, SERVER_ERROR)) else {
        panic!("a fault is an error");
    };
    assert!(e.is_retryable(), "a Server fault may pass: {e}");
    assert_eq!(
        e.to_string(),
        "SOAP fault SOAP-ENV:Server from Op (HTTP 500): Server Error"
    );
}

#[test]
fn other_answers_follow_the_http_policy() {
    let Err(e) = read("q", &reply(503, "busy")) else {
        panic!("503 is an error");
    };
    assert!(e.is_retryable());
    let Err(e) = read("q", &reply(200, "<html>hi</html>")) else {
        panic!("not an envelope");
    };
    assert_eq!(
        e.to_string(),
        "the answer of q: the answer is not a SOAP envelope (its root element is `html`): <html>hi</html>"
    );
    assert!(read("q", &reply(202, "")).is_ok());
}

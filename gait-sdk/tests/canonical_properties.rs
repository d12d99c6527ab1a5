//! Property tests for canonical JSON: canonicalisation is idempotent, stable under member
//! reordering, and its output is valid JSON that means the same thing.

use gait_sdk::jcs::{canonical_string, digest_hex};
use proptest::prelude::*;
use serde_json::{Map, Number, Value};

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|i| Value::Number(i.into())),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| Value::Number(Number::from_f64(f).unwrap())),
        any::<String>().prop_map(Value::String),
        "[ -~\u{80}-\u{10FFFF}]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((any::<String>(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

proptest! {
    #[test]
    fn canonicalisation_is_idempotent(v in arb_json()) {
        let once = canonical_string(&v).unwrap();
        let reparsed: Value = serde_json::from_str(&once).unwrap();
        let twice = canonical_string(&reparsed).unwrap();
        prop_assert_eq!(&once, &twice);
        prop_assert_eq!(digest_hex(&v).unwrap(), digest_hex(&reparsed).unwrap());
    }

    #[test]
    fn member_order_does_not_matter(kv in prop::collection::vec((any::<String>(), any::<i32>()), 0..10)) {
        let forward: Map<String, Value> = kv.iter().map(|(k, v)| (k.clone(), Value::from(*v))).collect();
        let mut text = String::from("{");
        for (i, (k, v)) in forward.iter().rev().enumerate() {
            if i > 0 { text.push(','); }
            text.push_str(&serde_json::to_string(k).unwrap());
            text.push(':');
            text.push_str(&v.to_string());
        }
        text.push('}');
        let reversed: Value = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(canonical_string(&Value::Object(forward)).unwrap(), canonical_string(&reversed).unwrap());
    }

    #[test]
    fn numbers_round_trip_through_their_canonical_text(f in any::<f64>().prop_filter("finite", |f| f.is_finite())) {
        let text = canonical_string(&Value::Number(Number::from_f64(f).unwrap())).unwrap();
        let back: f64 = text.parse().unwrap();
        prop_assert_eq!(back, if f == 0.0 { 0.0 } else { f });
    }
}

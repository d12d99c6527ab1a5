//! An example Gait dynamic gate check, loaded in process by
//! `gait gate eval --check-plugin libdeny_after_hours.so` once it is signed by a trusted key
//! (see `docs/dynamic-plugins.md`).
//!
//! The check receives `{"abi", "tool_name", "intent", "verdict", "reason_codes"}` and answers
//! `{"verdict", "reason_codes"}`. The gate keeps the more restrictive of the policy's verdict
//! and this one, so a check can only tighten a decision. The rules are deliberately simple and
//! deterministic (the name is the classic use case; a real after-hours check would read the
//! time from the intent):
//!
//! - a tool whose name starts with `payments.` is blocked (`payments_tool_blocked`);
//! - an intent whose context has `risk_class` `high` or `critical` requires approval
//!   (`high_risk_requires_approval`);
//! - the tool `test.panic` makes the check panic, to show that the host survives a panic;
//! - anything else is allowed (`no_objection`).

#![forbid(unsafe_code)]

use serde_json::{json, Value};

fn check(input: Value) -> Result<Value, String> {
    if input["abi"] != json!(1) {
        return Err(format!("unsupported check input abi: {}", input["abi"]));
    }
    let tool = input["tool_name"]
        .as_str()
        .ok_or("input has no tool_name string")?;
    if tool == "test.panic" {
        panic!("deny-after-hours: panic requested by tool test.panic");
    }
    let risk = input["intent"]["context"]["risk_class"]
        .as_str()
        .unwrap_or("");
    let (verdict, code) = if tool.starts_with("payments.") {
        ("block", "payments_tool_blocked")
    } else if risk == "high" || risk == "critical" {
        ("require_approval", "high_risk_requires_approval")
    } else {
        ("allow", "no_objection")
    };
    Ok(json!({"verdict": verdict, "reason_codes": [code]}))
}

gait_sdk::export_dynamic_plugin!(check);

#[cfg(test)]
mod tests {
    use super::*;

    fn input(tool: &str, risk: &str) -> Value {
        json!({"abi": 1, "tool_name": tool, "intent": {"context": {"risk_class": risk}},
               "verdict": "allow", "reason_codes": []})
    }

    #[test]
    fn rules() {
        assert_eq!(
            check(input("payments.refund", "low")).unwrap(),
            json!({"verdict": "block", "reason_codes": ["payments_tool_blocked"]})
        );
        assert_eq!(
            check(input("tool.write", "high")).unwrap()["verdict"],
            "require_approval"
        );
        assert_eq!(
            check(input("tool.read", "low")).unwrap()["verdict"],
            "allow"
        );
        assert!(check(json!({"abi": 2, "tool_name": "x"})).is_err());
        assert!(check(json!({"abi": 1})).is_err());
    }

    #[test]
    #[should_panic(expected = "panic requested")]
    fn panic_mode() {
        let _ = check(input("test.panic", "low"));
    }
}

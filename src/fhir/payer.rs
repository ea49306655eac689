//! Which Organizations are payers (and so own a partition).

use serde_json::Value;

pub const ORGANIZATION_TYPE_SYSTEM: &str =
    "http://terminology.hl7.org/CodeSystem/organization-type";

/// An Organization is a payer when one of its `type` codings is organization-type `pay`.
pub fn is_payer_organization(org: &Value) -> bool {
    org.get("type")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|cc| cc.get("coding").and_then(Value::as_array))
        .flatten()
        .any(|c| {
            c.get("system").and_then(Value::as_str) == Some(ORGANIZATION_TYPE_SYSTEM)
                && c.get("code").and_then(Value::as_str) == Some("pay")
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn payer_needs_the_pay_code_in_the_right_system() {
        let pay = json!({"type":[{"coding":[{"system":ORGANIZATION_TYPE_SYSTEM,"code":"pay"}]}]});
        let prov = json!({"type":[{"coding":[{"system":ORGANIZATION_TYPE_SYSTEM,"code":"prov"}]}]});
        let other = json!({"type":[{"coding":[{"system":"http://example.org","code":"pay"}]}]});
        assert!(is_payer_organization(&pay));
        assert!(!is_payer_organization(&prov));
        assert!(!is_payer_organization(&other));
        assert!(!is_payer_organization(&json!({})));
    }
}

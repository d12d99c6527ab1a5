//! SayTokens (`gait.voice.say_token` 1.0.0, B5) and their verification (B6).
//!
//! A token binds one commitment — intent digest, policy digest, call id, turn, call sequence,
//! class and bounds — until `expires_at`. Its signature covers the canonical JSON of the
//! normalised token without `signature`, so cosmetic edits (upper-case digests, padded class)
//! still verify while any change of a bound value does not.

use crate::error::VoiceError;
use gait_sdk::gojson::GoValue;
use gait_sdk::jcs;
use gait_sdk::pack::call::{normalize_class, CommitmentIntent};
use gait_sdk::signing::{self, KeyPair, PublicKey, Signature};
use gait_sdk::time::GoTime;
use serde_json::{json, Map, Value};

pub const SCHEMA_ID: &str = "gait.voice.say_token";
pub const SCHEMA_VERSION: &str = "1.0.0";

/// A SayToken's fields (strings as read; see [`SayToken::normalize`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SayToken {
    pub schema_id: String,
    pub schema_version: String,
    pub created_at: String,
    pub producer_version: String,
    pub token_id: String,
    pub commitment_class: String,
    pub intent_digest: String,
    pub policy_digest: String,
    pub call_id: String,
    pub turn_index: i64,
    pub call_seq: i64,
    pub currency: String,
    pub quote_min_cents: i64,
    pub quote_max_cents: i64,
    pub refund_ceiling_cents: i64,
    pub expires_at: String,
    pub signature: Option<Signature>,
}

/// `token_id`: first 24 hex of SHA-256 over the bound values joined by `:`.
pub fn token_id(
    intent_digest: &str,
    policy_digest: &str,
    call_id: &str,
    turn_index: i64,
    call_seq: i64,
    class: &str,
    expires_at: &str,
) -> String {
    let input = format!(
        "{intent_digest}:{policy_digest}:{call_id}:{turn_index}:{call_seq}:{class}:{expires_at}"
    );
    jcs::sha256_hex(input.as_bytes())[..24].to_string()
}

fn tok_err(code: &'static str, detail: impl Into<String>) -> VoiceError {
    VoiceError::Token {
        code,
        detail: detail.into(),
    }
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

impl SayToken {
    /// Mints a signed token for a normalised, allowed commitment.
    pub fn mint(
        intent: &CommitmentIntent,
        intent_digest: &str,
        policy_digest: &str,
        now: GoTime,
        ttl_nanos: i128,
        producer_version: &str,
        key: &KeyPair,
    ) -> Result<SayToken, VoiceError> {
        let ttl = i64::try_from(ttl_nanos)
            .map_err(|_| VoiceError::invalid("invalid --ttl, expected positive duration"))?;
        let expires = now
            .add(jiff::SignedDuration::from_nanos(ttl))
            .ok_or_else(|| VoiceError::invalid("invalid --ttl, expected positive duration"))?;
        let created_at = now.utc().to_rfc3339_nano();
        let expires_at = expires.utc().to_rfc3339_nano();
        let mut t = SayToken {
            schema_id: SCHEMA_ID.into(),
            schema_version: SCHEMA_VERSION.into(),
            created_at,
            producer_version: producer_version.into(),
            token_id: token_id(
                intent_digest,
                policy_digest,
                &intent.call_id,
                intent.turn_index,
                intent.call_seq,
                &intent.commitment_class,
                &expires_at,
            ),
            commitment_class: intent.commitment_class.clone(),
            intent_digest: intent_digest.into(),
            policy_digest: policy_digest.into(),
            call_id: intent.call_id.clone(),
            turn_index: intent.turn_index,
            call_seq: intent.call_seq,
            currency: intent.currency.clone(),
            quote_min_cents: intent.quote_min_cents,
            quote_max_cents: intent.quote_max_cents,
            refund_ceiling_cents: intent.refund_ceiling_cents,
            expires_at,
            signature: None,
        };
        let sig = key.sign_value(&t.unsigned_value())?;
        t.signature = Some(sig);
        Ok(t)
    }

    /// The token without `signature`, empty optional members omitted.
    pub fn unsigned_value(&self) -> Value {
        let mut m = Map::new();
        let mut put = |k: &str, v: &str| {
            if !v.is_empty() {
                m.insert(k.into(), json!(v));
            }
        };
        put("schema_id", &self.schema_id);
        put("schema_version", &self.schema_version);
        put("created_at", &self.created_at);
        put("producer_version", &self.producer_version);
        put("token_id", &self.token_id);
        put("commitment_class", &self.commitment_class);
        put("intent_digest", &self.intent_digest);
        put("policy_digest", &self.policy_digest);
        put("call_id", &self.call_id);
        put("currency", &self.currency);
        put("expires_at", &self.expires_at);
        m.insert("turn_index".into(), json!(self.turn_index));
        m.insert("call_seq".into(), json!(self.call_seq));
        for (k, v) in [
            ("quote_min_cents", self.quote_min_cents),
            ("quote_max_cents", self.quote_max_cents),
            ("refund_ceiling_cents", self.refund_ceiling_cents),
        ] {
            if v != 0 {
                m.insert(k.into(), json!(v));
            }
        }
        Value::Object(m)
    }

    /// The token file: fields in the reference's order, indented, with a final newline.
    pub fn to_file_bytes(&self) -> Vec<u8> {
        #[derive(serde::Serialize)]
        struct Out<'a> {
            schema_id: &'a str,
            schema_version: &'a str,
            created_at: &'a str,
            producer_version: &'a str,
            token_id: &'a str,
            commitment_class: &'a str,
            intent_digest: &'a str,
            policy_digest: &'a str,
            call_id: &'a str,
            turn_index: i64,
            call_seq: i64,
            #[serde(skip_serializing_if = "str::is_empty")]
            currency: &'a str,
            #[serde(skip_serializing_if = "is_zero")]
            quote_min_cents: i64,
            #[serde(skip_serializing_if = "is_zero")]
            quote_max_cents: i64,
            #[serde(skip_serializing_if = "is_zero")]
            refund_ceiling_cents: i64,
            expires_at: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            signature: Option<&'a Signature>,
        }
        fn is_zero(v: &i64) -> bool {
            *v == 0
        }
        let out = Out {
            schema_id: &self.schema_id,
            schema_version: &self.schema_version,
            created_at: &self.created_at,
            producer_version: &self.producer_version,
            token_id: &self.token_id,
            commitment_class: &self.commitment_class,
            intent_digest: &self.intent_digest,
            policy_digest: &self.policy_digest,
            call_id: &self.call_id,
            turn_index: self.turn_index,
            call_seq: self.call_seq,
            currency: &self.currency,
            quote_min_cents: self.quote_min_cents,
            quote_max_cents: self.quote_max_cents,
            refund_ceiling_cents: self.refund_ceiling_cents,
            expires_at: &self.expires_at,
            signature: self.signature.as_ref(),
        };
        let mut b = serde_json::to_vec_pretty(&out).expect("token serialises");
        b.push(b'\n');
        b
    }

    /// Decodes a token leniently (unknown members ignored, names case-insensitive). A member
    /// of the wrong JSON type is a parse error.
    pub fn parse(text: &str) -> Result<SayToken, String> {
        let v = GoValue::parse(text).map_err(|e| e.to_string())?;
        if !matches!(v, GoValue::Object(_)) {
            return Err(format!(
                "json: cannot unmarshal {} into say token",
                v.kind()
            ));
        }
        let s = |k: &str| v.str_field(k, "SayToken").map_err(|e| e.to_string());
        let i = |k: &str| v.int_field(k, "SayToken").map_err(|e| e.to_string());
        let signature = match v.field("signature") {
            None => None,
            Some(sv @ GoValue::Object(_)) => Signature::from_go(sv),
            Some(other) => {
                return Err(format!(
                    "json: cannot unmarshal {} into field SayToken.signature",
                    other.kind()
                ))
            }
        };
        Ok(SayToken {
            schema_id: s("schema_id")?,
            schema_version: s("schema_version")?,
            created_at: s("created_at")?,
            producer_version: s("producer_version")?,
            token_id: s("token_id")?,
            commitment_class: s("commitment_class")?,
            intent_digest: s("intent_digest")?,
            policy_digest: s("policy_digest")?,
            call_id: s("call_id")?,
            turn_index: i("turn_index")?,
            call_seq: i("call_seq")?,
            currency: s("currency")?,
            quote_min_cents: i("quote_min_cents")?,
            quote_max_cents: i("quote_max_cents")?,
            refund_ceiling_cents: i("refund_ceiling_cents")?,
            expires_at: s("expires_at")?,
            signature,
        })
    }

    /// Check 1 of B6: the normalised token, or `say_token_invalid`.
    pub fn normalize(&self) -> Result<SayToken, VoiceError> {
        let bad = |d: &str| tok_err("say_token_invalid", d);
        let mut n = self.clone();
        n.schema_id = n.schema_id.trim().to_string();
        if n.schema_id.is_empty() {
            n.schema_id = SCHEMA_ID.into();
        } else if n.schema_id != SCHEMA_ID {
            return Err(bad(&format!("unsupported schema_id: {}", n.schema_id)));
        }
        n.schema_version = n.schema_version.trim().to_string();
        if n.schema_version.is_empty() {
            n.schema_version = SCHEMA_VERSION.into();
        } else if n.schema_version != SCHEMA_VERSION {
            return Err(bad(&format!(
                "unsupported schema_version: {}",
                n.schema_version
            )));
        }
        n.token_id = n.token_id.trim().to_string();
        if n.token_id.is_empty() {
            return Err(bad("token_id is required"));
        }
        n.commitment_class = normalize_class(&n.commitment_class).map_err(|e| bad(&e.message))?;
        for (what, d) in [
            ("intent_digest", &mut n.intent_digest),
            ("policy_digest", &mut n.policy_digest),
        ] {
            *d = d.trim().to_lowercase();
            if !is_hex64(d) {
                return Err(bad(&format!("{what} must be sha256 hex")));
            }
        }
        n.call_id = n.call_id.trim().to_string();
        if n.call_id.is_empty() {
            return Err(bad("call_id is required"));
        }
        if n.turn_index < 0 {
            return Err(bad("turn_index must be >= 0"));
        }
        if n.call_seq < 1 {
            return Err(bad("call_seq must be >= 1"));
        }
        n.currency = n.currency.trim().to_uppercase();
        if n.quote_min_cents < 0 || n.quote_max_cents < 0 || n.refund_ceiling_cents < 0 {
            return Err(bad("bound values must be >= 0"));
        }
        if n.quote_max_cents > 0 && n.quote_min_cents > n.quote_max_cents {
            return Err(bad("quote_max_cents must be >= quote_min_cents"));
        }
        for (what, t) in [
            ("created_at", &mut n.created_at),
            ("expires_at", &mut n.expires_at),
        ] {
            let parsed = GoTime::parse_rfc3339(t.trim())
                .ok()
                .filter(|x| !x.is_zero())
                .ok_or_else(|| bad(&format!("{what} is required")))?;
            *t = parsed.utc().to_rfc3339_nano();
        }
        n.producer_version = n.producer_version.trim().to_string();
        Ok(n)
    }
}

/// What `voice token verify` checks the token against (all optional).
#[derive(Debug, Clone, Default)]
pub struct Bindings {
    pub intent_digest: String,
    pub policy_digest: String,
    pub call_id: String,
    /// −1 (or less): not checked.
    pub turn_index: i64,
    /// 0 (or less): not checked.
    pub call_seq: i64,
    pub commitment_class: String,
}

/// B6 checks 1–8 in order; the first failure is returned.
pub fn verify(
    token: &SayToken,
    key: &PublicKey,
    b: &Bindings,
    now: GoTime,
) -> Result<SayToken, VoiceError> {
    let n = token.normalize()?;
    let Some(sig) = token
        .signature
        .as_ref()
        .filter(|s| !(s.sig.is_empty() && s.signed_digest.is_empty() && s.alg.is_empty()))
    else {
        return Err(tok_err(
            "say_token_signature_missing",
            "signature is required",
        ));
    };
    signing::verify_value(&n.unsigned_value(), sig, key)
        .map_err(|e| tok_err("say_token_signature_invalid", e.to_string()))?;
    let want = b.intent_digest.trim().to_lowercase();
    if !want.is_empty() && want != n.intent_digest {
        return Err(tok_err(
            "say_token_intent_mismatch",
            "intent_digest mismatch",
        ));
    }
    let want = b.policy_digest.trim().to_lowercase();
    if !want.is_empty() && want != n.policy_digest {
        return Err(tok_err(
            "say_token_policy_mismatch",
            "policy_digest mismatch",
        ));
    }
    let want = b.call_id.trim();
    if !want.is_empty() && want != n.call_id {
        return Err(tok_err(
            "say_token_call_binding_mismatch",
            "call_id mismatch",
        ));
    }
    if b.turn_index >= 0 && b.turn_index != n.turn_index {
        return Err(tok_err(
            "say_token_call_binding_mismatch",
            "turn_index mismatch",
        ));
    }
    if b.call_seq > 0 && b.call_seq != n.call_seq {
        return Err(tok_err(
            "say_token_call_binding_mismatch",
            "call_seq mismatch",
        ));
    }
    let want = b.commitment_class.trim().to_lowercase();
    if !want.is_empty() && want != n.commitment_class {
        return Err(tok_err(
            "say_token_class_mismatch",
            "commitment_class mismatch",
        ));
    }
    let expires = GoTime::parse_rfc3339(&n.expires_at).expect("normalised");
    if now.timestamp() >= expires.timestamp() {
        return Err(tok_err("say_token_expired", "token expired"));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_id_matches_the_reference() {
        let id = token_id(
            &"3".repeat(64),
            &"4".repeat(64),
            "call_demo",
            3,
            8,
            "refund",
            "2026-02-15T01:00:00Z",
        );
        assert_eq!(id, "1095774560ad4c0a701e6ea7");
    }
}

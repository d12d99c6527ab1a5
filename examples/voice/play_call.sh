#!/bin/sh
# Plays one support call the way a voice adapter would, against the gait CLI:
#   1. the caller asks for a small refund: the adapter mints a SayToken (allowed) and speaks;
#   2. the caller asks for a large refund: the gate refuses, no token, the agent must not promise it;
#   3. after the call, the adapter writes a call record and builds a callpack;
#   4. the callpack is verified and bootstrapped into a regression fixture.
# Usage: play_call.sh [work dir]   (GAIT=<path to gait> to use a specific build)
set -eu
GAIT=${GAIT:-gait}
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=${1:-$(mktemp -d)}
mkdir -p "$WORK"
cd "$WORK"

field() { # field <name> <json line>: a string or number member of one-line JSON output
  printf '%s' "$2" | sed -n "s/.*\"$1\":\"\{0,1\}\([^\",]*\)\"\{0,1\}[,}].*/\1/p"
}

echo "== setup: a signing key and the agent's runpack (gait demo stands in for the agent run)"
"$GAIT" keys init --out-dir keys --prefix voice --json >/dev/null
"$GAIT" demo --json >/dev/null
KEY="--key-mode prod --private-key keys/voice_private.key"

echo "== turn 2: caller asks for a \$25 refund"
OUT=$("$GAIT" voice token mint --intent "$HERE/refund_allowed.json" --policy "$HERE/policy.yaml" \
  --out tokens/refund_small.json --trace-out traces/refund_small.json $KEY --json)
echo "$OUT"
TOKEN_ID=$(field token_id "$OUT")
INTENT_DIGEST=$(field intent_digest "$OUT")
POLICY_DIGEST=$(field policy_digest "$OUT")
echo "-- the adapter checks the token before it speaks"
"$GAIT" voice token verify --token tokens/refund_small.json --public-key keys/voice_public.key \
  --intent-digest "$INTENT_DIGEST" --policy-digest "$POLICY_DIGEST" \
  --call-id call_example_1 --turn-index 2 --call-seq 3 --commitment-class refund --json
SPOKEN="I have issued a refund of 25 dollars to your card."
SPOKEN_DIGEST=$(printf '%s' "$SPOKEN" | sha256sum | cut -d' ' -f1)

echo "== turn 4: caller asks for a \$2,500 refund"
set +e
OUT=$("$GAIT" voice token mint --intent "$HERE/refund_refused.json" --policy "$HERE/policy.yaml" \
  --out tokens/refund_large.json --trace-out traces/refund_large.json $KEY --json)
CODE=$?
set -e
echo "$OUT"
echo "-- exit $CODE: no token, so the adapter says it will hand over to a human instead"
test "$CODE" -eq 3
test ! -e tokens/refund_large.json
REFUSED_INTENT=$(field intent_digest "$OUT")

echo "== after the call: the call record"
cat > call_record.json <<JSON
{
  "schema_id": "gait.voice.call_record",
  "schema_version": "1.0.0",
  "created_at": "2026-02-15T00:00:00Z",
  "producer_version": "example-adapter-1",
  "call_id": "call_example_1",
  "runpack_path": "gait-out/runpack_run_demo.zip",
  "privacy_mode": "hash_only",
  "environment_fingerprint": "voice:example",
  "events": [
    {"created_at": "2026-02-15T00:00:01Z", "call_id": "call_example_1", "call_seq": 1, "turn_index": 1, "event_type": "asr.final"},
    {"created_at": "2026-02-15T00:00:02Z", "call_id": "call_example_1", "call_seq": 2, "turn_index": 2, "event_type": "commitment.declared", "commitment_class": "refund"},
    {"created_at": "2026-02-15T00:00:03Z", "call_id": "call_example_1", "call_seq": 3, "turn_index": 2, "event_type": "gate.decision", "commitment_class": "refund", "intent_digest": "$INTENT_DIGEST", "policy_digest": "$POLICY_DIGEST"},
    {"created_at": "2026-02-15T00:00:04Z", "call_id": "call_example_1", "call_seq": 4, "turn_index": 2, "event_type": "tts.request", "commitment_class": "refund"},
    {"created_at": "2026-02-15T00:00:05Z", "call_id": "call_example_1", "call_seq": 5, "turn_index": 2, "event_type": "tts.emitted", "commitment_class": "refund", "say_token_id": "$TOKEN_ID"},
    {"created_at": "2026-02-15T00:00:06Z", "call_id": "call_example_1", "call_seq": 6, "turn_index": 2, "event_type": "tool.intent", "attributes": {"tool": "billing.refund"}},
    {"created_at": "2026-02-15T00:00:07Z", "call_id": "call_example_1", "call_seq": 7, "turn_index": 2, "event_type": "tool.result"},
    {"created_at": "2026-02-15T00:00:08Z", "call_id": "call_example_1", "call_seq": 8, "turn_index": 4, "event_type": "commitment.declared", "commitment_class": "refund"},
    {"created_at": "2026-02-15T00:00:09Z", "call_id": "call_example_1", "call_seq": 9, "turn_index": 4, "event_type": "gate.decision", "commitment_class": "refund", "intent_digest": "$REFUSED_INTENT", "policy_digest": "$POLICY_DIGEST"}
  ],
  "commitments": [
$(sed 's/^/    /' "$HERE/refund_allowed.json"),
$(sed 's/^/    /' "$HERE/refund_refused.json")
  ],
  "gate_decisions": [
    {"call_id": "call_example_1", "call_seq": 3, "turn_index": 2, "commitment_class": "refund", "verdict": "allow", "reason_codes": ["refund_within_policy"], "intent_digest": "$INTENT_DIGEST", "policy_digest": "$POLICY_DIGEST"},
    {"call_id": "call_example_1", "call_seq": 9, "turn_index": 4, "commitment_class": "refund", "verdict": "block", "reason_codes": ["refund_needs_human"], "intent_digest": "$REFUSED_INTENT", "policy_digest": "$POLICY_DIGEST"}
  ],
  "speak_receipts": [
    {"call_id": "call_example_1", "call_seq": 5, "turn_index": 2, "commitment_class": "refund", "say_token_id": "$TOKEN_ID", "spoken_digest": "$SPOKEN_DIGEST", "emitted_at": "2026-02-15T00:00:05Z"}
  ],
  "reference_digests": [{"ref_id": "policy.refunds", "sha256": "$POLICY_DIGEST"}]
}
JSON

echo "== build, verify and inspect the callpack"
"$GAIT" voice pack build --from call_record.json --out callpack.zip --json
"$GAIT" voice pack verify callpack.zip --json
"$GAIT" pack inspect callpack.zip --json | sed 's/.*"call_payload":\({[^}]*}\).*/call_payload: \1/'

echo "== bootstrap a regression from the callpack"
"$GAIT" regress bootstrap --from callpack.zip --json
echo "done: $WORK"

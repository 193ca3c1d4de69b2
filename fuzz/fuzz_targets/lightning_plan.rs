//! The Lightning plan decoder and its conversion to the runtime plan: any text decodes or fails
//! with a `lexicon::Error`, and every decoded plan converts and serialises.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openfn_lexicon::lightning::{ConvertOptions, LightningPlan};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(plan) = LightningPlan::from_json_str(text) else {
        return;
    };
    let converted = plan.to_execution_plan(&ConvertOptions::default());
    serde_json::to_string(&converted.plan).expect("a converted plan serialises");
    let _ = plan.to_value();
});

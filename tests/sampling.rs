//! `runtime::sample` against transformers' logits processors: for each case of
//! `tests/fixtures/sampling.json` (written by `tools/reference/sampling_fixture.py`), the
//! tokens kept, the processed logits and the greedy token are transformers'.
//!
//! Where tied logits straddle the top-p boundary, transformers' choice depends on PyTorch's
//! unstable sort; there the fixture also holds the result with a stable sort
//! (`kept_stable_sort`), which is the order the runtime follows (lower id dropped first).

use serde_json::Value;
use transformer::runtime::sample::{self, Sampler, SamplingOptions};

fn cases() -> Vec<Value> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sampling.json");
    let text = std::fs::read_to_string(path).unwrap();
    let fixture: Value = serde_json::from_str(&text).unwrap();
    fixture["cases"].as_array().unwrap().clone()
}

/// A JSON list of numbers, `null` standing for `-inf`.
fn logits(value: &Value) -> Vec<f32> {
    let entry = |v: &Value| v.as_f64().map_or(f32::NEG_INFINITY, |x| x as f32);
    value.as_array().unwrap().iter().map(entry).collect()
}

fn ids(value: &Value) -> Vec<u32> {
    let id = |v: &Value| v.as_u64().unwrap() as u32;
    value.as_array().unwrap().iter().map(id).collect()
}

fn options(value: &Value) -> SamplingOptions {
    let float = |key: &str, default: f32| value[key].as_f64().map_or(default, |x| x as f32);
    SamplingOptions {
        temperature: float("temperature", 0.0),
        top_k: value["top_k"].as_u64().unwrap_or(0) as usize,
        top_p: float("top_p", 1.0),
        min_p: float("min_p", 0.0),
        repetition_penalty: float("repetition_penalty", 1.0),
        seed: 0,
    }
}

#[test]
fn processed_logits_match_transformers() {
    for case in cases() {
        let name = case["name"].as_str().unwrap();
        let options = options(&case["options"]);
        let mut got = logits(&case["logits"]);
        sample::process_logits(&options, &mut got, &ids(&case["seen"])).unwrap();
        let stable = case.get("kept_stable_sort").is_some();
        let (kept_key, processed_key) = match stable {
            true => ("kept_stable_sort", "processed_stable_sort"),
            false => ("kept", "processed"),
        };
        let want = logits(&case[processed_key]);
        let kept: Vec<u32> = (0..got.len() as u32)
            .filter(|&i| got[i as usize].is_finite())
            .collect();
        assert_eq!(kept, ids(&case[kept_key]), "{name}: kept tokens");
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            let close = g == w || (g - w).abs() <= 1e-6 * w.abs().max(1.0);
            assert!(close, "{name}: logit {i} is {g}, transformers has {w}");
        }
    }
}

#[test]
fn greedy_token_matches_transformers() {
    for case in cases() {
        let name = case["name"].as_str().unwrap();
        let greedy = SamplingOptions {
            repetition_penalty: options(&case["options"]).repetition_penalty,
            ..SamplingOptions::default()
        };
        let token = Sampler::new(greedy)
            .unwrap()
            .sample(&logits(&case["logits"]), &ids(&case["seen"]))
            .unwrap();
        assert_eq!(token as u64, case["greedy"].as_u64().unwrap(), "{name}");
    }
}

#[test]
fn draws_stay_in_transformers_kept_set() {
    for case in cases() {
        let name = case["name"].as_str().unwrap();
        let options = SamplingOptions {
            seed: 11,
            ..options(&case["options"])
        };
        let kept = ids(case.get("kept_stable_sort").unwrap_or(&case["kept"]));
        let (logits, seen) = (logits(&case["logits"]), ids(&case["seen"]));
        let mut sampler = Sampler::new(options).unwrap();
        for _ in 0..200 {
            let token = sampler.sample(&logits, &seen).unwrap();
            assert!(kept.contains(&token), "{name}: drew {token}, not kept");
        }
    }
}

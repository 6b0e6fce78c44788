//! Criterion benchmarks of the workloads of `bench/README.md`, each at 1 and 2 threads:
//!
//! ```text
//! cargo bench --bench workloads                # all of them
//! cargo bench --bench workloads -- w2          # names matching a filter
//! ```
//!
//! The workloads are `examples/bench_workloads.rs`'s. W2 runs PyTorch's weights if
//! `$BENCH_DATA/w2.weights.safetensors` exists (`bench/compare.py` writes it; `$BENCH_DATA`
//! defaults to `target/bench-data`), else `Tiny::init(W2_SEED)`. W3 and W4 are skipped, with
//! a message, without all-MiniLM-L6-v2 (`scripts/fetch-models.sh`). Throughput is in
//! elements per second where one element is one floating-point operation: `Gelem/s` reads
//! as GFLOP/s.

use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use transformer::runtime::threads;

#[path = "../examples/bench_workloads.rs"]
#[expect(
    dead_code,
    reason = "the example's command line and timer are not used here"
)]
mod workloads;

/// The thread counts every workload runs at.
const THREADS: [usize; 2] = [1, 2];

fn bench_workloads(c: &mut Criterion) {
    match transformer::runtime::cpu::try_level() {
        Ok(level) => eprintln!("kernel level: {level}"),
        Err(e) => {
            eprintln!("error: {e}");
            return;
        }
    }
    if let Err(e) = transformer::runtime::threads::try_get() {
        eprintln!("error: {e}");
        return;
    }
    let names = ["w1", "w2", "w3", "w4", "w5", "w6", "gemm"].map(String::from);
    let data = workloads::data_dir(None);
    let model_dir = workloads::model_dir(None);
    let list = match workloads::workloads(&names, &data, &model_dir) {
        Ok(list) => list,
        Err(e) => {
            eprintln!("error: cannot set up the workloads: {e}");
            return;
        }
    };
    for mut workload in list {
        let mut group = c.benchmark_group(workload.name);
        // Flat sampling suits runs of a millisecond or more; 30 samples keeps MiniLM-128 short.
        group
            .sampling_mode(SamplingMode::Flat)
            .sample_size(30)
            .throughput(Throughput::Elements(workload.flops));
        for n in THREADS {
            threads::set(n);
            group.bench_function(BenchmarkId::new("threads", n), |b| {
                b.iter(&mut workload.run);
            });
        }
        group.finish();
    }
    threads::set(0);
}

criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = bench_workloads
}
criterion_main!(benches);

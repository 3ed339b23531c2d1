//! The best-fit heap against the shadow model (see src/lib.rs for the input format).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    bestbuddy_fuzz::run::<bestbuddy::bestfit::BestFitHeap>(data);
});

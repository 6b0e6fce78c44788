// The self-attention mask and the memory mask are different types: passing one for the
// other does not compile, in a layer's `forward` or in `Options`.
use transformer::runtime::{Mask, MemoryMask, Options};
use transformer::transformer;

transformer! {
    Captioner < kind: decoder, cross_attention: true, d_model: 8, heads: 2, layers: 1 >
}

fn main() {
    let model = Captioner::init(1);
    let mut x = [[0.0f32; 8]; 3];
    let memory = [[0.0f32; 8]; 4];
    let (mask, memory_mask) = (Mask::CAUSAL, MemoryMask::default());
    model.layers[0].forward(&mut x, &memory, &mask, &memory_mask, &mut Captioner::scratch());
    let _ = Options {
        mask: memory_mask,
        ..Options::new()
    };
}

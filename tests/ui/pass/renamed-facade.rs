// A crate that reaches the facade under another path names it with `crate = "…"`; every
// path the generated code writes then starts there (here `::transformer` would also work,
// so the path is a module of this crate's own, which proves nothing else is used).
mod tfm {
    pub use ::transformer::runtime;
}

transformer::transformer! {
    #[transformer(crate = "crate::tfm")]
    /// A model whose generated code reaches the runtime through `crate::tfm`.
    pub Renamed < d_model: 8, heads: 2, layers: 1, vocab: 10, positional: learned >
}

fn main() {
    let model = Renamed::init(1);
    let out = model.forward_tokens(&[1, 2, 3]).unwrap();
    assert_eq!(out.len(), 3);
}

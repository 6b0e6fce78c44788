use transformer::transformer;

transformer! {}

fn main() {}

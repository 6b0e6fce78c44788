//! A model's table of layers, output shapes and parameter counts, like torchinfo's.

use std::fmt;

/// One line of a [`Summary`]: a layer or sublayer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SummaryRow {
    /// Nesting: 0 for a layer, 1 for its sublayers.
    pub depth: usize,
    /// The field path, e.g. `layers.0.attn`.
    pub name: String,
    /// What it is, e.g. `self-attention`.
    pub kind: &'static str,
    /// The output's width; its shape is `[N, width]` for a sequence of `N` tokens.
    pub width: usize,
    /// Learned numbers in it.
    pub parameters: usize,
}

/// The rows of a model, with totals; its `Display` prints the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// The model's name.
    pub model: &'static str,
    /// The rows in forward order.
    pub rows: Vec<SummaryRow>,
    /// Learned numbers in the whole model (the model's `PARAMETERS`).
    pub parameters: usize,
    /// Bytes of key/value cache per token, for a model that decodes through one.
    pub kv_bytes_per_token: Option<usize>,
}

impl Summary {
    /// An empty table for `model` with `parameters` learned numbers in all.
    pub fn new(model: &'static str, parameters: usize) -> Self {
        Self {
            model,
            rows: Vec::new(),
            parameters,
            kv_bytes_per_token: None,
        }
    }

    /// States the key/value cache's cost: `bytes` per token of its capacity.
    pub fn kv_cache(&mut self, bytes: usize) {
        self.kv_bytes_per_token = Some(bytes);
    }

    /// Appends a row.
    pub fn row(
        &mut self,
        depth: usize,
        name: impl Into<String>,
        kind: &'static str,
        width: usize,
        parameters: usize,
    ) {
        self.rows.push(SummaryRow {
            depth,
            name: name.into(),
            kind,
            width,
            parameters,
        });
    }
}

/// `1234567` as `1,234,567`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let labels: Vec<String> = self
            .rows
            .iter()
            .map(|r| format!("{}{} ({})", "  ".repeat(r.depth), r.name, r.kind))
            .collect();
        let name_width = labels
            .iter()
            .map(|l| l.chars().count())
            .chain([self.model.len(), 5])
            .max()
            .unwrap_or(0);
        let rule = "=".repeat(name_width + 30);
        writeln!(f, "{rule}")?;
        writeln!(
            f,
            "{:<name_width$}  {:<14}  {:>12}",
            "Layer (type)", "Output shape", "Param #"
        )?;
        writeln!(f, "{rule}")?;
        for (label, row) in labels.iter().zip(&self.rows) {
            let shape = format!("[N, {}]", row.width);
            writeln!(
                f,
                "{label:<name_width$}  {shape:<14}  {:>12}",
                thousands(row.parameters)
            )?;
        }
        writeln!(f, "{rule}")?;
        writeln!(
            f,
            "{}: {} parameters",
            self.model,
            thousands(self.parameters)
        )?;
        let bytes = self.parameters * std::mem::size_of::<f32>();
        write!(
            f,
            "weights: {} bytes ({:.1} MiB as f32)",
            thousands(bytes),
            bytes as f64 / (1024.0 * 1024.0)
        )?;
        if let Some(per_token) = self.kv_bytes_per_token {
            write!(
                f,
                "\nkey/value cache: {} bytes per token of capacity ({:.1} MiB for 1024 tokens)",
                thousands(per_token),
                (per_token * 1024) as f64 / (1024.0 * 1024.0)
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_thousands() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(10_646_784), "10,646,784");
    }

    #[test]
    fn prints_one_line_per_row_with_totals() {
        let mut summary = Summary::new("Tiny", 10);
        summary.row(0, "layers.0", "encoder layer", 4, 10);
        summary.row(1, "layers.0.attn", "self-attention", 4, 6);
        let text = summary.to_string();
        assert!(text.contains("layers.0 (encoder layer)"), "{text}");
        assert!(
            text.contains("  layers.0.attn (self-attention)  [N, 4]"),
            "{text}"
        );
        assert!(
            text.ends_with("Tiny: 10 parameters\nweights: 40 bytes (0.0 MiB as f32)"),
            "{text}"
        );
    }
}

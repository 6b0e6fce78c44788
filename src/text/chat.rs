//! [`ChatTemplate`]: a model's Jinja `chat_template`, rendered as transformers'
//! `apply_chat_template` renders it.
//!
//! transformers compiles the template in a sandboxed Jinja environment with `trim_blocks`,
//! `lstrip_blocks` and `loopcontrols`, adds `raise_exception` and a `tojson` that does not
//! escape HTML, and renders it with `messages`, `tools` and `documents` (`None` here),
//! `add_generation_prompt` and the tokenizer's special tokens (`bos_token`, …). minijinja does
//! the same here, with minijinja-contrib's Python string, dict and list methods (`.strip()`,
//! `.items()`, …).

use std::collections::BTreeMap;

use minijinja::value::{Kwargs, Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind, context};

use super::TextError;
use super::tokenizer::SpecialTokens;

/// One message of a chat: who speaks (`system`, `user`, `assistant`) and what they say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// `system`, `user`, `assistant`, or whatever the template accepts.
    pub role: String,
    /// The text of the message.
    pub content: String,
}

impl Message {
    /// A message from `role`.
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: content.into(),
        }
    }

    /// A `system` message.
    pub fn system(content: impl Into<String>) -> Self {
        Self::new("system", content)
    }

    /// A `user` message.
    pub fn user(content: impl Into<String>) -> Self {
        Self::new("user", content)
    }

    /// An `assistant` message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new("assistant", content)
    }
}

/// A parsed chat template and the special tokens it is rendered with.
pub struct ChatTemplate {
    env: Environment<'static>,
    special_tokens: SpecialTokens,
}

const NAME: &str = "chat_template";

impl ChatTemplate {
    /// Parses the Jinja template `source`.
    ///
    /// # Errors
    ///
    /// [`TextError::Template`] with the parser's message and line.
    pub fn new(source: &str, special_tokens: SpecialTokens) -> Result<Self, TextError> {
        let mut env = Environment::new();
        let syntax = minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()
            .map_err(template_error)?;
        env.set_syntax(syntax);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", raise_exception);
        env.add_filter("tojson", tojson);
        env.add_template_owned(NAME, source.to_owned())
            .map_err(template_error)?;
        Ok(Self {
            env,
            special_tokens,
        })
    }

    /// The prompt for `messages`; with `add_generation_prompt`, followed by what opens the
    /// assistant's turn (`<|im_start|>assistant\n`), as for generating the reply.
    ///
    /// # Errors
    ///
    /// [`TextError::Template`] if rendering fails or the template calls `raise_exception`
    /// (its message is kept).
    pub fn render(
        &self,
        messages: &[Message],
        add_generation_prompt: bool,
    ) -> Result<String, TextError> {
        let messages: Vec<Value> = messages
            .iter()
            .map(|m| context! { role => m.role.as_str(), content => m.content.as_str() })
            .collect();
        let mut vars = BTreeMap::from([
            ("messages", Value::from(messages)),
            ("add_generation_prompt", Value::from(add_generation_prompt)),
            ("tools", Value::from(())),
            ("documents", Value::from(())),
        ]);
        let SpecialTokens { bos, eos, unk, pad } = &self.special_tokens;
        let specials = [
            ("bos_token", bos),
            ("eos_token", eos),
            ("unk_token", unk),
            ("pad_token", pad),
        ];
        // Unset tokens stay undefined, as transformers passes only the set ones.
        for (name, token) in specials {
            if let Some(token) = token {
                vars.insert(name, Value::from(token.as_str()));
            }
        }
        let template = self.env.get_template(NAME).map_err(template_error)?;
        template.render(vars).map_err(template_error)
    }
}

fn template_error(e: Error) -> TextError {
    TextError::Template(e.to_string())
}

/// transformers' `raise_exception(message)`: the template refuses the chat.
fn raise_exception(message: String) -> Result<Value, Error> {
    let detail = format!("the template raised an exception: {message}");
    Err(Error::new(ErrorKind::InvalidOperation, detail))
}

/// transformers' `tojson`: Python's `json.dumps(value, ensure_ascii=False, indent=indent,
/// sort_keys=sort_keys)`, which (unlike Jinja's) leaves `<`, `>`, `&` and `'` as they are.
/// Floats print as Rust's shortest form (`1e-7` is `0.0000001`, Python's `1e-07`).
fn tojson(value: &Value, kwargs: Kwargs) -> Result<Value, Error> {
    let indent: Option<usize> = kwargs.get("indent")?;
    let sort_keys: Option<bool> = kwargs.get("sort_keys")?;
    kwargs.assert_all_used()?;
    let mut out = String::new();
    let json = Json {
        indent,
        sort_keys: sort_keys.unwrap_or(false),
    };
    json.write(&mut out, value, 0)?;
    Ok(Value::from_safe_string(out))
}

/// `json.dumps`'s layout: `", "` and `": "` on one line, or `indent` spaces per level.
struct Json {
    indent: Option<usize>,
    sort_keys: bool,
}

impl Json {
    fn write(&self, out: &mut String, value: &Value, depth: usize) -> Result<(), Error> {
        match value.kind() {
            ValueKind::Undefined | ValueKind::None => out.push_str("null"),
            ValueKind::Bool => out.push_str(if value.is_true() { "true" } else { "false" }),
            ValueKind::Number if value.is_integer() => out.push_str(&value.to_string()),
            ValueKind::Number => out.push_str(&python_float(f64::try_from(value.clone())?)),
            ValueKind::String => write_string(out, value.as_str().unwrap_or_default()),
            ValueKind::Seq | ValueKind::Iterable => {
                let items: Vec<Value> = value.try_iter()?.collect();
                self.write_container(out, ('[', ']'), &items, depth, |out, item| {
                    self.write(out, item, depth + 1)
                })?;
            }
            ValueKind::Map => {
                let mut keys: Vec<Value> = value.try_iter()?.collect();
                if self.sort_keys {
                    keys.sort();
                }
                self.write_container(out, ('{', '}'), &keys, depth, |out, key| {
                    write_string(out, &key.to_string());
                    out.push_str(": ");
                    self.write(out, &value.get_item(key)?, depth + 1)
                })?;
            }
            kind => {
                let detail = format!("tojson cannot write a value of kind {kind}");
                return Err(Error::new(ErrorKind::InvalidOperation, detail));
            }
        }
        Ok(())
    }

    fn write_container(
        &self,
        out: &mut String,
        (open, close): (char, char),
        items: &[Value],
        depth: usize,
        mut write_item: impl FnMut(&mut String, &Value) -> Result<(), Error>,
    ) -> Result<(), Error> {
        out.push(open);
        if items.is_empty() {
            out.push(close);
            return Ok(());
        }
        let newline = |out: &mut String, depth: usize| {
            if let Some(indent) = self.indent {
                out.push('\n');
                out.push_str(&" ".repeat(indent * depth));
            }
        };
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push_str(if self.indent.is_some() { "," } else { ", " });
            }
            newline(out, depth + 1);
            write_item(out, item)?;
        }
        newline(out, depth);
        out.push(close);
        Ok(())
    }
}

/// A JSON string as Python writes it with `ensure_ascii=False`.
fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if c < ' ' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `repr(float)` for the common cases: `1.0`, `0.5`, `NaN`, `Infinity`.
fn python_float(x: f64) -> String {
    match x {
        x if x.is_nan() => "NaN".to_owned(),
        f64::INFINITY => "Infinity".to_owned(),
        f64::NEG_INFINITY => "-Infinity".to_owned(),
        x if x.fract() == 0.0 && x.abs() < 1e16 => format!("{x:.1}"),
        x => x.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SmolLM2-Instruct's template: a default system prompt when the chat has none.
    const SMOLLM2: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    fn render(source: &str, messages: &[Message]) -> Result<String, TextError> {
        let specials = SpecialTokens {
            bos: Some("<s>".into()),
            eos: Some("</s>".into()),
            ..SpecialTokens::default()
        };
        ChatTemplate::new(source, specials)?.render(messages, true)
    }

    #[test]
    fn smollm2_template_adds_the_default_system_prompt_and_the_generation_prompt() {
        let prompt = render(SMOLLM2, &[Message::user("Hi!")]).unwrap();
        assert_eq!(
            prompt,
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by \
             Hugging Face<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn blocks_trim_their_newline_and_leading_spaces_as_transformers_sets_jinja() {
        let source = "{{ bos_token }}\n  {% for m in messages %}\n[{{ m.role }}]{{ m.content.strip() }}\n  {% endfor %}\n{{ eos_token }}{{ unk_token is defined }}";
        // Jinja prints booleans as Python does: `False`.
        let messages = [Message::user("  hi "), Message::assistant("yo")];
        assert_eq!(
            render(source, &messages).unwrap(),
            "<s>\n[user]hi\n[assistant]yo\n</s>False"
        );
    }

    #[test]
    fn loop_controls_and_namespace_work() {
        let source = "{% set ns = namespace(n=0) %}{% for m in messages %}{% if m.role == 'system' %}{% continue %}{% endif %}{% set ns.n = ns.n + 1 %}{% endfor %}{{ ns.n }}";
        let messages = [Message::system("s"), Message::user("a"), Message::user("b")];
        assert_eq!(render(source, &messages).unwrap(), "2");
    }

    #[test]
    fn raise_exception_is_an_error_with_its_message() {
        let source = "{% if messages[0].role != 'user' %}{{ raise_exception('Conversation must start with a user message') }}{% endif %}";
        let err = render(source, &[Message::assistant("x")]).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("chat template: invalid operation: the template raised an exception: Conversation must start with a user message"),
            "{msg}"
        );
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let err = ChatTemplate::new("line one\n{% for x in %}", SpecialTokens::default())
            .err()
            .unwrap();
        let msg = err.to_string();
        assert!(msg.starts_with("chat template: syntax error"), "{msg}");
        assert!(msg.contains("chat_template:2"), "{msg}");
    }

    #[test]
    fn messages_keep_their_key_order_as_python_dicts_do() {
        let source = "{% for k, v in messages[0].items() %}{{ k }}={{ v }};{% endfor %}";
        assert_eq!(
            render(source, &[Message::user("hi")]).unwrap(),
            "role=user;content=hi;"
        );
    }

    #[test]
    fn tojson_writes_as_python_json_dumps() {
        let source = "{{ {'b': [1, 2.0, 'x<y'], 'a': none, 'c': {}} | tojson }}|{{ {'b': 1, 'a': [true]} | tojson(indent=2, sort_keys=true) }}";
        assert_eq!(
            render(source, &[]).unwrap(),
            "{\"b\": [1, 2.0, \"x<y\"], \"a\": null, \"c\": {}}|{\n  \"a\": [\n    true\n  ],\n  \"b\": 1\n}"
        );
    }
}

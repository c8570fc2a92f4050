//! The tools the model may call (OpenAI function calling), behind one
//! dispatcher.
//!
//! Every [`Output::StartLlm`](super::Output::StartLlm) offers the model the
//! specs of the registered tools ([`ToolDispatcher::specs`]); every tool call
//! that comes back ([`Input::LlmToolCall`](super::Input::LlmToolCall)) goes
//! through [`ToolDispatcher::dispatch`], which finds the tool by name, parses
//! its JSON arguments and runs it. A tool answers with a [`ToolOutcome`] that
//! the conversation core carries out. `end_call` ([`EndCallTool`]) is the
//! first tool; later features (transfer, ticket, booking) register theirs
//! with [`ToolDispatcher::register`] and add the outcomes they need.
//!
//! Tools run inside the sans-IO core: [`Tool::call`] must not block or do IO.

use std::sync::Arc;

use super::config::{end_call_tool, END_CALL_TOOL};
use crate::providers::ToolSpec;

/// Registered tools per call, at most (each one's spec goes in every request).
pub const MAX_TOOLS: usize = 32;

/// Largest accepted `arguments` text of one tool call, in bytes.
pub const MAX_TOOL_ARGUMENTS_BYTES: usize = 16 * 1024;

/// What the conversation does after a tool call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolOutcome {
    /// Hang up once the current reply has been spoken.
    EndCall,
    /// Nothing for the core to do: the reply goes on.
    Continue,
}

/// Why a tool call was not run. The reply goes on either way.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolError {
    /// No tool of that name is registered.
    #[error("unknown tool {0:?}")]
    Unknown(String),
    /// The arguments are not a JSON object the tool accepts.
    #[error("bad arguments for tool {tool:?}: {reason}")]
    BadArguments { tool: String, reason: String },
}

/// Why [`ToolDispatcher::register`] refused a tool.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    #[error("a tool named {0:?} is already registered")]
    Duplicate(String),
    #[error("at most {MAX_TOOLS} tools can be registered")]
    TooMany,
}

/// One tool the model can call.
pub trait Tool: Send + Sync + std::fmt::Debug {
    /// Name, description and JSON-schema parameters, as offered to the model.
    /// The name must be stable: calls are matched on it.
    fn spec(&self) -> ToolSpec;

    /// Runs the tool with the model's `arguments` (a JSON object; `{}` when
    /// the model sent none). Must return at once (no IO).
    fn call(&self, arguments: &serde_json::Value) -> Result<ToolOutcome, ToolError>;
}

/// `end_call`: hang up after the current reply.
#[derive(Debug, Clone, Copy, Default)]
pub struct EndCallTool;

impl Tool for EndCallTool {
    fn spec(&self) -> ToolSpec {
        end_call_tool()
    }

    fn call(&self, _arguments: &serde_json::Value) -> Result<ToolOutcome, ToolError> {
        Ok(ToolOutcome::EndCall)
    }
}

/// The tools of one call, by name, in registration order.
#[derive(Debug, Clone)]
pub struct ToolDispatcher {
    tools: Vec<(String, Arc<dyn Tool>)>,
}

impl Default for ToolDispatcher {
    /// The built-in tools: `end_call`.
    fn default() -> Self {
        let mut d = Self::empty();
        d.tools
            .push((END_CALL_TOOL.to_string(), Arc::new(EndCallTool)));
        d
    }
}

impl ToolDispatcher {
    /// A dispatcher with no tools (the model is offered none).
    pub fn empty() -> Self {
        Self { tools: Vec::new() }
    }

    /// Adds `tool`. Errors: [`RegisterError::Duplicate`] if its name is
    /// taken, [`RegisterError::TooMany`] beyond [`MAX_TOOLS`].
    pub fn register(&mut self, tool: Arc<dyn Tool>) -> Result<(), RegisterError> {
        let name = tool.spec().name;
        if self.tools.iter().any(|(n, _)| *n == name) {
            return Err(RegisterError::Duplicate(name));
        }
        if self.tools.len() >= MAX_TOOLS {
            return Err(RegisterError::TooMany);
        }
        self.tools.push((name, tool));
        Ok(())
    }

    /// The specs offered to the model, in registration order.
    pub fn specs(&self) -> Vec<ToolSpec> {
        self.tools.iter().map(|(_, t)| t.spec()).collect()
    }

    /// Runs the tool `name` with `arguments` (JSON text; empty means `{}`).
    /// Errors: [`ToolError::Unknown`], or [`ToolError::BadArguments`] when
    /// the text is too long, not JSON, not an object, or refused by the tool.
    pub fn dispatch(&self, name: &str, arguments: &str) -> Result<ToolOutcome, ToolError> {
        let (_, tool) = self
            .tools
            .iter()
            .find(|(n, _)| n == name)
            .ok_or_else(|| ToolError::Unknown(truncated(name)))?;
        let bad = |reason: &str| ToolError::BadArguments {
            tool: name.to_string(),
            reason: reason.to_string(),
        };
        if arguments.len() > MAX_TOOL_ARGUMENTS_BYTES {
            return Err(bad("too long"));
        }
        let value = if arguments.trim().is_empty() {
            serde_json::Value::Object(Default::default())
        } else {
            serde_json::from_str(arguments).map_err(|_| bad("not JSON"))?
        };
        if !value.is_object() {
            return Err(bad("not a JSON object"));
        }
        tool.call(&value)
    }
}

/// A name for logs: at most 64 characters.
fn truncated(name: &str) -> String {
    name.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Echo(&'static str);

    impl Tool for Echo {
        fn spec(&self) -> ToolSpec {
            ToolSpec {
                name: self.0.into(),
                description: "test".into(),
                parameters: serde_json::json!({"type": "object"}),
            }
        }
        fn call(&self, arguments: &serde_json::Value) -> Result<ToolOutcome, ToolError> {
            match arguments.get("fail") {
                Some(_) => Err(ToolError::BadArguments {
                    tool: self.0.into(),
                    reason: "fail".into(),
                }),
                None => Ok(ToolOutcome::Continue),
            }
        }
    }

    #[test]
    fn end_call_is_the_built_in_tool() {
        let d = ToolDispatcher::default();
        assert_eq!(d.specs(), vec![end_call_tool()]);
        assert_eq!(d.dispatch("end_call", "{}"), Ok(ToolOutcome::EndCall));
        assert_eq!(d.dispatch("end_call", ""), Ok(ToolOutcome::EndCall));
        assert_eq!(
            d.dispatch("transfer", "{}"),
            Err(ToolError::Unknown("transfer".into()))
        );
        assert!(ToolDispatcher::empty().specs().is_empty());
        assert!(ToolDispatcher::empty().dispatch("end_call", "{}").is_err());
    }

    #[test]
    fn registered_tools_are_offered_and_dispatched_by_name() {
        let mut d = ToolDispatcher::default();
        d.register(Arc::new(Echo("book"))).unwrap();
        assert_eq!(
            d.register(Arc::new(Echo("book"))),
            Err(RegisterError::Duplicate("book".into()))
        );
        let names: Vec<String> = d.specs().into_iter().map(|s| s.name).collect();
        assert_eq!(names, ["end_call", "book"]);
        assert_eq!(
            d.dispatch("book", r#"{"day":"mon"}"#),
            Ok(ToolOutcome::Continue)
        );
        assert!(matches!(
            d.dispatch("book", r#"{"fail":1}"#),
            Err(ToolError::BadArguments { .. })
        ));
        for bad in ["[1]", "not json", "\"x\""] {
            assert!(
                matches!(d.dispatch("book", bad), Err(ToolError::BadArguments { .. })),
                "{bad}"
            );
        }
        let long = format!(r#"{{"x":"{}"}}"#, "a".repeat(MAX_TOOL_ARGUMENTS_BYTES));
        assert!(d.dispatch("book", &long).is_err());
        for i in 0..MAX_TOOLS - 2 {
            d.register(Arc::new(Echo(Box::leak(format!("t{i}").into_boxed_str()))))
                .unwrap();
        }
        assert_eq!(
            d.register(Arc::new(Echo("one_more"))),
            Err(RegisterError::TooMany)
        );
    }
}

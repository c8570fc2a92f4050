//! The call's link to the outside while it runs: operator commands in,
//! [`LiveEvent`]s out (through the call's lifecycle; see [`super::super::control`]).

use std::time::Instant;

use actix::prelude::*;

use super::{tokio_stream_from, CallActor};
use crate::call::control::{CallCommand, CallControl, LiveEvent};
use crate::conversation::Input;

impl CallActor {
    /// Hands the call's [`CallControl`] to its lifecycle and starts reading
    /// the commands sent through it.
    pub(super) fn open_control(&mut self, ctx: &mut Context<Self>) {
        let (control, commands) = CallControl::channel();
        if let Some(lifecycle) = self.lifecycle.as_mut() {
            lifecycle.control(control);
        }
        ctx.add_stream(tokio_stream_from(commands));
    }

    /// Reports `event` to the call's lifecycle (if any).
    pub(super) fn report(&mut self, event: LiveEvent) {
        if let Some(lifecycle) = self.lifecycle.as_mut() {
            lifecycle.event(event);
        }
    }

    /// Reports the conversation's state if it changed since last reported.
    pub(super) fn report_state(&mut self) {
        let state = self.conversation.state();
        if state != self.last_state {
            self.last_state = state;
            self.report(LiveEvent::State(state));
        }
    }
}

impl StreamHandler<CallCommand> for CallActor {
    fn handle(&mut self, command: CallCommand, ctx: &mut Context<Self>) {
        let now = Instant::now();
        let input = match command {
            CallCommand::HangUp => {
                tracing::info!(call_id = %self.call_id, "operator command: hang up");
                Input::HangUpNow
            }
            CallCommand::Say { text, then } => {
                tracing::info!(call_id = %self.call_id, ?then, chars = text.chars().count(), "operator command: say");
                Input::Say { text, then }
            }
        };
        self.conversation.handle_input(input, now);
        self.drain_outputs(ctx, now);
    }

    fn finished(&mut self, _ctx: &mut Context<Self>) {
        // Nobody holds the control any more: the call goes on without it.
    }
}

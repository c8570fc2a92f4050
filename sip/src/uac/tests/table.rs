//! [`UacTable`](crate::uac::UacTable): routing by Call-ID, timers, and
//! dropping finished calls.

use std::time::Duration;

use rsipstack::sip::Method;

use super::*;
use crate::uac::{UacKey, UacTable, UacTableOutput};

fn outputs(t: &mut UacTable) -> Vec<UacTableOutput> {
    std::iter::from_fn(|| t.poll_output()).collect()
}

#[test]
fn routes_by_call_id_and_drops_finished_calls() {
    let mut h = Harness::default_call();
    let invite = h.last(Method::Invite);
    let now = h.now;
    let mut table = UacTable::new();
    let call = OutboundCall::new(now, config(), request()).unwrap();
    table.insert(UacKey(1), call);
    let out = outputs(&mut table);
    assert!(matches!(out[0], UacTableOutput::Transmit(_)), "the INVITE");
    assert!(matches!(
        out[1],
        UacTableOutput::Event {
            key: UacKey(1),
            event: UacEvent::Dialing { .. }
        }
    ));
    assert_eq!(table.active(), 1);
    assert!(table.uses_peer(TRUNK.parse().unwrap()));

    // Not ours (another Call-ID): handed back for the UAS core.
    let foreign = response_text(&invite, 486, "", "").replace("Call-ID: ", "Call-ID: x");
    let back = table.handle_inbound(
        now,
        trunk_source(),
        classify_datagram(foreign.as_bytes(), &LocalPolicy::default()),
    );
    assert!(matches!(back, Some(Inbound::Response(_))));
    assert!(outputs(&mut table).is_empty());

    // Ours: consumed, ACKed, ended. (Same seed → same Call-ID as `h`.)
    let busy = response_text(&invite, 486, "", "");
    let back = table.handle_inbound(
        now,
        trunk_source(),
        classify_datagram(busy.as_bytes(), &LocalPolicy::default()),
    );
    assert!(back.is_none());
    let out = outputs(&mut table);
    assert!(matches!(out[0], UacTableOutput::Transmit(_)), "the ACK");
    assert!(matches!(
        out[1],
        UacTableOutput::Event {
            event: UacEvent::Ended { .. },
            ..
        }
    ));
    assert_eq!(table.active(), 0);
    assert_eq!(table.len(), 1, "lingers for Timer D");
    table.handle_timeout(now + Duration::from_millis(31_999));
    assert_eq!(table.len(), 1);
    table.handle_timeout(now + Duration::from_secs(32));
    assert!(table.is_empty(), "dropped after Timer D");
    assert!(
        table
            .handle_inbound(
                now,
                trunk_source(),
                classify_datagram(busy.as_bytes(), &LocalPolicy::default()),
            )
            .is_some(),
        "a dropped call's Call-ID is no longer routed"
    );
    h.drain();
}

#[test]
fn timers_fire_through_the_table() {
    let mut table = UacTable::new();
    let t0 = std::time::Instant::now();
    table.insert(
        UacKey(7),
        OutboundCall::new(t0, config(), request()).unwrap(),
    );
    outputs(&mut table);
    let mut invites = 1;
    while let Some(at) = table.poll_timeout() {
        table.handle_timeout(at);
        for o in outputs(&mut table) {
            match o {
                UacTableOutput::Transmit(_) => invites += 1,
                UacTableOutput::Event { event, .. } => {
                    assert!(matches!(event, UacEvent::Ended { .. }), "{event:?}")
                }
            }
        }
    }
    assert_eq!(invites, 7, "Timer A retransmissions, then Timer B");
    assert!(table.is_empty());
    // Commands on a finished call are no-ops.
    assert!(table.hangup(t0, UacKey(7)).is_ok());
}

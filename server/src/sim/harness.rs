//! Steps a [`Simulation`] in memory with no sockets and no clock: clients join, send inputs
//! and read what the simulation would send them. Used by tests, benchmarks and tools.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};

use shared::{ClientMessage, EntityState, Input, MapData, PROTOCOL_VERSION, ServerMessage, codec};

use crate::bridge::{ClientId, ToNet, ToSim};
use crate::record::writer::Recorder;
use crate::sim::Simulation;
use crate::sim::resources::SimSettings;

/// A simulation plus per-client mailboxes of decoded server messages.
pub struct Harness {
    /// The simulation under test.
    pub sim: Simulation,
    mail: BTreeMap<ClientId, Vec<ServerMessage>>,
    closed: BTreeMap<ClientId, shared::DisconnectReason>,
    recorder: Option<Recorder>,
}

impl Harness {
    /// A fresh simulation.
    pub fn new(settings: SimSettings, map: MapData) -> Self {
        Harness { sim: Simulation::new(settings, map), mail: BTreeMap::new(), closed: BTreeMap::new(), recorder: None }
    }

    /// Records every later step through `recorder` (see `record::writer`).
    pub fn record(&mut self, recorder: Recorder) {
        self.recorder = Some(recorder);
    }

    /// Ends the recording, marking it complete.
    pub fn finish_recording(&mut self) {
        if let Some(recorder) = self.recorder.take() {
            recorder.finish(&self.sim);
        }
    }

    /// Connects `client` and sends its `Hello`; the join takes effect on the next step.
    pub fn connect(&mut self, client: u32, name: &str) -> ClientId {
        let client = ClientId(client);
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        self.sim.push(ToSim::Connected { client, addr });
        let hello = ClientMessage::Hello { protocol_version: PROTOCOL_VERSION, name: name.into() };
        self.sim.push(ToSim::Message { client, message: hello });
        client
    }

    /// Queues an input for the next step.
    pub fn input(&mut self, client: ClientId, input: Input) {
        self.sim.push(ToSim::Message { client, message: ClientMessage::Input(input) });
    }

    /// Disconnects a client.
    pub fn disconnect(&mut self, client: ClientId) {
        self.sim.push(ToSim::Disconnected { client });
    }

    /// Runs `ticks` steps, decoding everything sent into the mailboxes.
    pub fn step(&mut self, ticks: u32) {
        for _ in 0..ticks {
            self.sim.step();
            if let Some(recorder) = &self.recorder {
                recorder.after_step(&mut self.sim);
            }
            for out in self.sim.take_outbound() {
                match out {
                    ToNet::Send { client, frame } => {
                        if let Ok(msg) = codec::decode_server(&frame.into_bytes()) {
                            self.mail.entry(client).or_default().push(msg);
                        }
                    }
                    ToNet::Broadcast { frame } => {
                        if let Ok(msg) = codec::decode_server(&frame.into_bytes()) {
                            for mailbox in self.mail.values_mut() {
                                mailbox.push(msg.clone());
                            }
                        }
                    }
                    ToNet::Close { client, reason, .. } => {
                        self.closed.insert(client, reason);
                    }
                }
            }
        }
    }

    /// Takes the messages sent to `client` so far.
    pub fn take_mail(&mut self, client: ClientId) -> Vec<ServerMessage> {
        self.mail.remove(&client).unwrap_or_default()
    }

    /// Why the simulation closed `client`, if it did.
    pub fn closed(&self, client: ClientId) -> Option<shared::DisconnectReason> {
        self.closed.get(&client).copied()
    }

    /// The replicated state of every entity now, in id order.
    pub fn entities(&mut self) -> Vec<EntityState> {
        self.sim.state().0
    }

    /// The player entity of `client`, if it has one.
    pub fn player(&mut self, client: ClientId) -> Option<EntityState> {
        self.entities().into_iter().find(|e| e.kind == shared::EntityKind::Player && e.owner == client.0)
    }
}

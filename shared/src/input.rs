//! One tick of player input, as the client sends it and the simulation applies it.

use glam::Vec2;
use serde::{Deserialize, Serialize};

/// Button bits carried in [`Input::buttons`].
pub struct Buttons;

impl Buttons {
    /// Fire the weapon (held: fires at the weapon's rate).
    pub const FIRE: u8 = 1 << 0;
    /// Every bit a client may set; any other bit makes the input invalid.
    pub const ALL: u8 = Self::FIRE;
}

/// Movement may exceed unit length by this much, to absorb client rounding.
const MOVE_LEN_SLACK: f32 = 1e-3;

/// One tick of input for the sending client's player.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Input {
    /// Client-chosen, increasing sequence number; echoed back in snapshots as
    /// `last_input_seq` so the client knows which inputs the server has applied.
    pub seq: u32,
    /// Desired movement direction, length at most 1 (zero: stand still).
    pub movement: Vec2,
    /// Aim angle in radians, in [-π, π], 0 pointing along +x, π/2 along +y (screen down).
    pub aim: f32,
    /// Held buttons, a set of [`Buttons`] bits.
    pub buttons: u8,
    /// The server tick at which the client was drawing other entities when it made this input
    /// (its interpolation delay plus its latency behind the server); 0: unknown. The server
    /// judges this input's shots against targets where they were at that tick, at most
    /// 200 ms back (lag compensation).
    pub view_tick: u32,
}

impl Input {
    /// Checks the ranges above; the simulation only ever sees inputs that pass.
    pub fn verify(&self) -> Result<(), &'static str> {
        if !self.movement.is_finite() {
            return Err("movement is not finite");
        }
        if self.movement.length_squared() > (1.0 + MOVE_LEN_SLACK) * (1.0 + MOVE_LEN_SLACK) {
            return Err("movement longer than 1");
        }
        if !self.aim.is_finite() {
            return Err("aim is not finite");
        }
        if self.aim.abs() > std::f32::consts::PI + 1e-4 {
            return Err("aim outside [-pi, pi]");
        }
        if self.buttons & !Buttons::ALL != 0 {
            return Err("unknown button bits");
        }
        Ok(())
    }

    /// Whether the fire button is held.
    pub fn fire(&self) -> bool {
        self.buttons & Buttons::FIRE != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(movement: Vec2, aim: f32, buttons: u8) -> Input {
        Input { seq: 1, movement, aim, buttons, view_tick: 0 }
    }

    #[test]
    fn accepts_legal_ranges() {
        let diag = Vec2::new(1.0, 1.0).normalize();
        assert_eq!(input(diag, std::f32::consts::PI, Buttons::FIRE).verify(), Ok(()));
        assert_eq!(input(Vec2::ZERO, -std::f32::consts::PI, 0).verify(), Ok(()));
    }

    #[test]
    fn rejects_nan_infinite_and_out_of_range() {
        assert!(input(Vec2::new(f32::NAN, 0.0), 0.0, 0).verify().is_err());
        assert!(input(Vec2::new(0.0, f32::INFINITY), 0.0, 0).verify().is_err());
        assert!(input(Vec2::new(1.0, 1.0), 0.0, 0).verify().is_err(), "unnormalized diagonal");
        assert!(input(Vec2::ZERO, f32::NAN, 0).verify().is_err());
        assert!(input(Vec2::ZERO, 4.0, 0).verify().is_err());
        assert!(input(Vec2::ZERO, 0.0, 0x80).verify().is_err());
    }
}

//! Quantization and dead reckoning: the integer units of the wire, and the one extrapolation
//! that server and clients compute bit for bit alike.
//!
//! | field | unit | range | max error of quantizing |
//! | --- | --- | --- | --- |
//! | position | 1/4 world unit | ±2^28 units (±67 M world units) | 1/8 unit per axis |
//! | velocity | 1/16 world unit per second | ±(2^20 − 1) units (±65 535 world units/s) | 1/32 unit/s per axis |
//! | aim | 1/4096 turn | [−2048, 2047] | π/4096 rad |
//!
//! A moving entity is sent as where it was at a base tick and its velocity; everyone computes
//! where it is at tick `t` with [`offset`], in integers: no floating point is involved, so
//! JavaScript (whose integers are exact below 2^53; every intermediate here is below 2^51)
//! gets the same answer as Rust.

use std::f32::consts::TAU;

use glam::Vec2;

/// Position units per world unit.
pub const POS_SCALE: f32 = 4.0;
/// Velocity units per world unit per second.
pub const VEL_SCALE: f32 = 16.0;
/// Aim steps per turn.
pub const AIM_STEPS: f32 = 4096.0;
/// Largest position magnitude, in position units.
pub const MAX_POS: i64 = 1 << 28;
/// Largest velocity magnitude, in velocity units.
pub const MAX_VEL: i64 = (1 << 20) - 1;
/// Largest tick span an extrapolation may cover; the server re-bases long straight runs well
/// before it ([`MAX_AGE`]), and decoders refuse more.
pub const MAX_ELAPSED: i64 = 1 << 30;
/// The server re-bases a moving entity's motion once its base is this many ticks old.
pub const MAX_AGE: u64 = 1 << 16;
/// How far (in position units, per axis) the truth may drift from the extrapolation before
/// the server sends a correction: 2 units = half a world unit.
pub const POS_TOLERANCE: i64 = 2;

/// Quantizes a position: nearest unit, clamped to the range; NaN becomes 0.
pub fn quantize_pos(v: Vec2) -> [i32; 2] {
    [scale(v.x, POS_SCALE, MAX_POS), scale(v.y, POS_SCALE, MAX_POS)]
}

/// Quantizes a velocity: nearest unit, clamped to the range; NaN becomes 0.
pub fn quantize_vel(v: Vec2) -> [i32; 2] {
    [scale(v.x, VEL_SCALE, MAX_VEL), scale(v.y, VEL_SCALE, MAX_VEL)]
}

/// Quantizes an angle in radians to steps in [−2048, 2047] (wrapping).
pub fn quantize_aim(radians: f32) -> i16 {
    if !radians.is_finite() {
        return 0;
    }
    let steps = (f64::from(radians) / std::f64::consts::TAU * f64::from(AIM_STEPS)).round();
    let half = f64::from(AIM_STEPS) / 2.0;
    ((steps + half).rem_euclid(f64::from(AIM_STEPS)) - half) as i16
}

fn scale(value: f32, per_unit: f32, max: i64) -> i32 {
    if value.is_nan() {
        return 0;
    }
    ((f64::from(value) * f64::from(per_unit)).round() as i64).clamp(-max, max) as i32
}

/// Position units back to world units.
pub fn pos_to_world(p: [i32; 2]) -> Vec2 {
    Vec2::new(p[0] as f32 / POS_SCALE, p[1] as f32 / POS_SCALE)
}

/// Velocity units back to world units per second.
pub fn vel_to_world(v: [i32; 2]) -> Vec2 {
    Vec2::new(v[0] as f32 / VEL_SCALE, v[1] as f32 / VEL_SCALE)
}

/// Aim steps back to radians.
pub fn aim_to_radians(aim: i16) -> f32 {
    f32::from(aim) * TAU / AIM_STEPS
}

/// How far, in position units, velocity `vel` (velocity units) carries an entity in
/// `elapsed` ticks at `tick_rate`: `vel · elapsed / (4 · tick_rate)` rounded half up, i.e.
/// `floor((2 · vel · elapsed + d) / (2 · d))` with `d = 4 · tick_rate` (4 = 16 velocity units
/// per 4 position units).
/// Within the documented ranges the result is exact; outside them (only hostile input gets
/// there, and decoders refuse it) it is computed without overflow and truncated.
pub fn offset(vel: i32, elapsed: i64, tick_rate: u16) -> i64 {
    // Within the documented ranges (|vel| ≤ MAX_VEL < 2^20, spans ≤ 2^31 ticks) every term is
    // below 2^53: i64 is exact, and much cheaper than the i128 that hostile values need.
    if i64::from(vel).unsigned_abs() <= MAX_VEL as u64 && elapsed.unsigned_abs() <= 1 << 31 {
        let d = 4 * i64::from(tick_rate.max(1));
        return (2 * i64::from(vel) * elapsed + d).div_euclid(2 * d);
    }
    let d = 4 * i128::from(tick_rate.max(1));
    (2 * i128::from(vel) * i128::from(elapsed) + d).div_euclid(2 * d) as i64
}

/// `tick − base_tick` as a signed span, saturating.
pub fn elapsed(base_tick: u64, tick: u64) -> i64 {
    (i128::from(tick) - i128::from(base_tick)).clamp(i64::MIN.into(), i64::MAX.into()) as i64
}

/// Where motion based at `pos` (tick `base_tick`) with velocity `vel` is at `tick`.
pub fn extrapolate(pos: [i32; 2], vel: [i32; 2], base_tick: u64, tick: u64, tick_rate: u16) -> [i64; 2] {
    let elapsed = elapsed(base_tick, tick);
    let at = |axis: usize| i64::from(pos[axis]).saturating_add(offset(vel[axis], elapsed, tick_rate));
    [at(0), at(1)]
}

/// Whether `pos` is within `tolerance` position units, on both axes, of where motion based at
/// `base` (tick `base_tick`) with velocity `vel` is at `tick`: `|pos − extrapolate(…)| ≤
/// tolerance`. The check every moving entity takes at every snapshot, so it is decided
/// without a division: with `offset = floor(n / D)`, `lo ≤ offset ≤ hi ⟺ lo·D ≤ n < (hi+1)·D`.
pub fn within(
    pos: [i32; 2],
    base: [i32; 2],
    vel: [i32; 2],
    base_tick: u64,
    tick: u64,
    tick_rate: u16,
    tolerance: i64,
) -> bool {
    let elapsed = elapsed(base_tick, tick);
    let small = |v: i32| i64::from(v).unsigned_abs() <= 1 << 30;
    // Outside the documented ranges (hostile values only), the division does it.
    if elapsed.unsigned_abs() > 1 << 31
        || vel.iter().any(|&v| i64::from(v).unsigned_abs() > MAX_VEL as u64)
        || !(pos.iter().chain(&base).all(|&p| small(p)) && tolerance.unsigned_abs() <= 1 << 20)
    {
        let at = extrapolate(base, vel, base_tick, tick, tick_rate);
        return (0..2).all(|i| (i64::from(pos[i]) - at[i]).abs() <= tolerance);
    }
    let d = 4 * i64::from(tick_rate.max(1));
    (0..2).all(|i| {
        let want = i64::from(pos[i]) - i64::from(base[i]);
        let n = 2 * i64::from(vel[i]) * elapsed + d;
        (want - tolerance) * (2 * d) <= n && n < (want + tolerance + 1) * (2 * d)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantization_is_within_its_documented_error() {
        for x in [0.0f32, 0.124, 0.126, 1999.87, -3.3, 1234.5678] {
            let q = quantize_pos(Vec2::new(x, -x));
            assert!((pos_to_world(q).x - x).abs() <= 0.125 + 1e-4, "{x}");
            let v = quantize_vel(Vec2::new(x, -x));
            assert!((vel_to_world(v).x - x).abs() <= 1.0 / 32.0 + 1e-4, "{x}");
        }
        assert_eq!(quantize_pos(Vec2::new(f32::NAN, f32::INFINITY)), [0, MAX_POS as i32]);
        assert_eq!(quantize_vel(Vec2::new(-1e30, 0.0)), [-MAX_VEL as i32, 0]);
        assert_eq!(quantize_aim(std::f32::consts::PI), -2048, "π wraps to −π");
        assert_eq!(quantize_aim(-std::f32::consts::FRAC_PI_2), -1024);
        assert!((aim_to_radians(quantize_aim(1.0)) - 1.0).abs() <= std::f32::consts::PI / 4096.0 + 1e-6);
    }

    #[test]
    fn within_is_the_distance_to_the_extrapolation() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |m: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % m
        };
        for case in 0..200_000 {
            let vel = [next(2 * MAX_VEL as u64 + 1) as i32 - MAX_VEL as i32, next(3201) as i32 - 1600];
            let base = [next(1 << 20) as i32 - (1 << 19), next(16_000) as i32];
            let base_tick = next(1 << 20);
            let tick = base_tick + next(if case % 2 == 0 { 100 } else { 1 << 17 });
            let at = extrapolate(base, vel, base_tick, tick, 60);
            let pos = [(at[0] + next(9) as i64 - 4) as i32, (at[1] + next(9) as i64 - 4) as i32];
            let rate = [60, 64, 1, 30][case % 4];
            let at = extrapolate(base, vel, base_tick, tick, rate);
            let expected = (0..2).all(|i| (i64::from(pos[i]) - at[i]).abs() <= POS_TOLERANCE);
            assert_eq!(
                within(pos, base, vel, base_tick, tick, rate, POS_TOLERANCE),
                expected,
                "{pos:?} {base:?} {vel:?} {base_tick} {tick} {rate}"
            );
        }
    }

    #[test]
    fn offsets_round_half_up_and_are_exact_for_whole_steps() {
        // 100 units/s = 1600 velocity units; 60 ticks at 60 Hz = 100 units = 400 position units.
        assert_eq!(offset(1600, 60, 60), 400);
        assert_eq!(offset(-1600, 60, 60), -400);
        assert_eq!(offset(1600, 1, 60), 7, "6.67 rounds to 7");
        assert_eq!(offset(-1600, 1, 60), -7);
        assert_eq!(offset(120, 1, 60), 1, "0.5 rounds up");
        assert_eq!(offset(-120, 1, 60), 0, "-0.5 rounds up");
        assert_eq!(offset(MAX_VEL as i32, MAX_ELAPSED, 1), (MAX_VEL * MAX_ELAPSED * 2 + 4).div_euclid(8));
        // The i64 path and the i128 one agree at the edge between them.
        for (vel, elapsed) in [(MAX_VEL as i32, 1i64 << 31), (-(MAX_VEL as i32), -(1i64 << 31)), (-7, 1i64 << 31)] {
            let wide = (2 * i128::from(vel) * i128::from(elapsed) + 4 * 60).div_euclid(8 * 60) as i64;
            assert_eq!(offset(vel, elapsed, 60), wide);
            assert_eq!(
                offset(vel, elapsed + elapsed.signum(), 60),
                (2 * i128::from(vel) * i128::from(elapsed + elapsed.signum()) + 240).div_euclid(480) as i64
            );
        }
    }
}

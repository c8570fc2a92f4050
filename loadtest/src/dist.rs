//! Latency distributions for the provider simulators, parsed from CLI
//! strings and drawn from a seeded RNG.
//!
//! | spec | meaning (milliseconds) |
//! | --- | --- |
//! | `200` or `fixed:200` | always 200 |
//! | `uniform:150..350` | uniform between 150 and 350 |
//! | `normal:250,50` | normal, mean 250, standard deviation 50 (clamped at 0) |
//! | `lognormal:200,0.3` | log-normal with median 200 and shape σ = 0.3 |
//!
//! Every draw is clamped to 0..=60 000 ms.

use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Longest latency ever drawn.
pub const MAX_MS: f64 = 60_000.0;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Distribution {
    Fixed(f64),
    Uniform { low: f64, high: f64 },
    Normal { mean: f64, sd: f64 },
    LogNormal { median: f64, sigma: f64 },
}

impl Distribution {
    /// One draw, in milliseconds (clamped to 0..=[`MAX_MS`]).
    pub fn sample_ms<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        let v = match *self {
            Distribution::Fixed(v) => v,
            Distribution::Uniform { low, high } => {
                if high > low {
                    rng.random_range(low..high)
                } else {
                    low
                }
            }
            Distribution::Normal { mean, sd } => mean + sd * standard_normal(rng),
            Distribution::LogNormal { median, sigma } => {
                median * (sigma * standard_normal(rng)).exp()
            }
        };
        v.clamp(0.0, MAX_MS)
    }

    /// The distribution's mean, ms (before clamping).
    pub fn mean_ms(&self) -> f64 {
        match *self {
            Distribution::Fixed(v) => v,
            Distribution::Uniform { low, high } => (low + high) / 2.0,
            Distribution::Normal { mean, .. } => mean,
            Distribution::LogNormal { median, sigma } => median * (sigma * sigma / 2.0).exp(),
        }
    }
}

/// Box–Muller.
fn standard_normal<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    let u1: f64 = rng.random_range(f64::MIN_POSITIVE..1.0);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

impl FromStr for Distribution {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let num = |t: &str| -> Result<f64, String> {
            let v: f64 = t
                .trim()
                .trim_end_matches("ms")
                .parse()
                .map_err(|_| format!("{t:?} is not a number (in {s:?})"))?;
            if !v.is_finite() || v < 0.0 {
                return Err(format!("{t:?} must be a finite number ≥ 0 (in {s:?})"));
            }
            Ok(v)
        };
        let pair = |t: &str, sep: &str| -> Result<(f64, f64), String> {
            let (a, b) = t
                .split_once(sep)
                .ok_or_else(|| format!("expected two numbers separated by {sep:?} in {s:?}"))?;
            Ok((num(a)?, num(b)?))
        };
        let (kind, rest) = match s.split_once(':') {
            Some((k, r)) => (k.trim().to_ascii_lowercase(), r),
            None => ("fixed".to_string(), s),
        };
        let d = match kind.as_str() {
            "fixed" => Distribution::Fixed(num(rest)?),
            "uniform" => {
                let (low, high) = pair(rest, "..")?;
                if high < low {
                    return Err(format!("uniform range is backwards in {s:?}"));
                }
                Distribution::Uniform { low, high }
            }
            "normal" => {
                let (mean, sd) = pair(rest, ",")?;
                Distribution::Normal { mean, sd }
            }
            "lognormal" => {
                let (median, sigma) = pair(rest, ",")?;
                if median <= 0.0 {
                    return Err(format!("lognormal median must be > 0 in {s:?}"));
                }
                Distribution::LogNormal { median, sigma }
            }
            other => {
                return Err(format!(
                    "unknown distribution {other:?} in {s:?}: use N, fixed:N, uniform:LO..HI, normal:MEAN,SD or lognormal:MEDIAN,SIGMA (ms)"
                ))
            }
        };
        Ok(d)
    }
}

impl fmt::Display for Distribution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Distribution::Fixed(v) => write!(f, "fixed:{v}"),
            Distribution::Uniform { low, high } => write!(f, "uniform:{low}..{high}"),
            Distribution::Normal { mean, sd } => write!(f, "normal:{mean},{sd}"),
            Distribution::LogNormal { median, sigma } => write!(f, "lognormal:{median},{sigma}"),
        }
    }
}

/// A distribution with its own seeded RNG, shareable across threads.
#[derive(Debug)]
pub struct Sampler {
    dist: Distribution,
    rng: Mutex<StdRng>,
}

impl Sampler {
    pub fn new(dist: Distribution, seed: u64) -> Self {
        Sampler {
            dist,
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
        }
    }

    pub fn distribution(&self) -> Distribution {
        self.dist
    }

    pub fn sample(&self) -> Duration {
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        Duration::from_secs_f64(self.dist.sample_ms(&mut *rng) / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_all_forms() {
        assert_eq!("200".parse(), Ok(Distribution::Fixed(200.0)));
        assert_eq!("fixed:5ms".parse(), Ok(Distribution::Fixed(5.0)));
        assert_eq!(
            "uniform:150..350".parse(),
            Ok(Distribution::Uniform {
                low: 150.0,
                high: 350.0
            })
        );
        assert_eq!(
            "normal:250,50".parse(),
            Ok(Distribution::Normal {
                mean: 250.0,
                sd: 50.0
            })
        );
        assert_eq!(
            "lognormal:200,0.3".parse(),
            Ok(Distribution::LogNormal {
                median: 200.0,
                sigma: 0.3
            })
        );
        for bad in [
            "",
            "x",
            "uniform:3",
            "uniform:5..1",
            "gamma:1,2",
            "normal:-1,2",
            "lognormal:0,1",
        ] {
            assert!(bad.parse::<Distribution>().is_err(), "{bad:?}");
        }
        let d: Distribution = "uniform:1..2".parse().unwrap();
        assert_eq!(d.to_string().parse::<Distribution>(), Ok(d));
    }

    #[test]
    fn draws_follow_the_distribution_and_the_seed() {
        let n = 20_000;
        for (spec, mean) in [
            ("uniform:150..350", 250.0),
            ("normal:250,40", 250.0),
            ("lognormal:200,0.3", 200.0 * (0.045f64).exp()),
        ] {
            let d: Distribution = spec.parse().unwrap();
            let mut rng = StdRng::seed_from_u64(7);
            let draws: Vec<f64> = (0..n).map(|_| d.sample_ms(&mut rng)).collect();
            let m = draws.iter().sum::<f64>() / n as f64;
            assert!((m - mean).abs() < mean * 0.02, "{spec}: mean {m}");
            if let Distribution::Uniform { low, high } = d {
                assert!(draws.iter().all(|&x| x >= low && x < high));
            }
        }
        let a = Sampler::new("normal:100,30".parse().unwrap(), 1);
        let b = Sampler::new("normal:100,30".parse().unwrap(), 1);
        let (x, y): (Vec<_>, Vec<_>) = (0..10).map(|_| (a.sample(), b.sample())).unzip();
        assert_eq!(x, y, "same seed, same draws");
    }
}

//! Vectorised element kernels for the fused CPU block ([`super::cpu_block`]): a polynomial
//! `exp`, a row softmax and the bias-plus-GELU pass, each compiled for the baseline target and
//! for AVX2 with FMA, picked at run time.

/// Compiles `$body` twice, once for the baseline target and once with AVX2 and FMA, and picks
/// the second at run time where the CPU has them (the check is cached by std).
macro_rules! multiversion {
    ($vis:vis fn $name:ident($($arg:ident: $ty:ty),*) $body:block) => {
        $vis fn $name($($arg: $ty),*) {
            #[inline(always)]
            fn generic($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                fn avx2($($arg: $ty),*) {
                    generic($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                    // SAFETY: the CPU has the features the function was compiled for.
                    return unsafe { avx2($($arg),*) };
                }
            }
            generic($($arg),*)
        }
    };
}

/// `e^x` for f32 within about 2 ulp (Cephes' `expf` polynomial with Cody-Waite range
/// reduction), written without branches so that loops over it vectorise. Inputs are clamped to
/// where the result is a normal float: below -87.3 it returns about 1.2e-38, not 0.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // 1.5 * 2^23: adding and subtracting it rounds to the nearest integer.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.336_55, 88.376_26);
    let t = x * LOG2E + ROUND;
    let n = t - ROUND;
    // n as an integer, read from t's low mantissa bits (a float-to-int cast would saturate,
    // which the compiler does not vectorise).
    let ni = t.to_bits() as i32 - ROUND.to_bits() as i32;
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 0.166_666_65;
    p = p * r + 0.5;
    let e = p * r * r + r + 1.0;
    e * f32::from_bits(((ni + 127) as u32) << 23)
}

multiversion! {
    pub fn softmax(row: &mut [f32]) {
        // Eight running maxima and sums, so that the reductions vectorise.
        let mut lanes = [f32::NEG_INFINITY; 8];
        let mut chunks = row.chunks_exact(8);
        for chunk in &mut chunks {
            for (m, &v) in lanes.iter_mut().zip(chunk) {
                *m = if v > *m { v } else { *m };
            }
        }
        let max = chunks.remainder().iter().chain(&lanes).fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m });
        let mut sums = [0.0f32; 8];
        let mut chunks = row.chunks_exact_mut(8);
        for chunk in &mut chunks {
            for (s, v) in sums.iter_mut().zip(chunk.iter_mut()) {
                *v = exp(*v - max);
                *s += *v;
            }
        }
        let mut sum: f32 = sums.iter().sum();
        for v in chunks.into_remainder() {
            *v = exp(*v - max);
            sum += *v;
        }
        let inv = 1.0 / sum;
        row.iter_mut().for_each(|v| *v *= inv);
    }
}

multiversion! {
    pub fn bias_gelu(row: &mut [f32], bias: &[f32]) {
        // Flax's tanh GELU as x sigmoid(2z), z = sqrt(2/pi) (x + 0.044715 x^3), as block.rs
        // computes it.
        const TWO_SQRT_2_OVER_PI: f32 = 2.0 * 0.797_884_6;
        for (v, b) in row.iter_mut().zip(bias) {
            let x = *v + b;
            let z = (x * x * 0.044715 + 1.0) * x * TWO_SQRT_2_OVER_PI;
            *v = x / (1.0 + exp(-z));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The polynomial `exp` against f64 over the range softmax and GELU use: within 3e-7
    /// relative (about 2.5 ulp).
    #[test]
    fn exp_matches_f64() {
        let mut worst = 0.0f64;
        for i in 0..=200_000 {
            let x = -87.0 + i as f64 * (87.0 + 88.0) / 200_000.0;
            let got = exp(x as f32) as f64;
            let want = (x as f32 as f64).exp();
            worst = worst.max(((got - want) / want).abs());
        }
        assert!(worst < 3e-7, "relative error {worst}");
        assert_eq!(exp(-1000.0), exp(-87.336_55));
        assert!(exp(-1000.0) < 1.2e-38 && exp(1000.0).is_finite());
    }
}

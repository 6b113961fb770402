//! What the fuzz replay tests share: the four targets of `fuzz/`, their
//! committed inputs and dictionaries, and a run of one input the way the
//! `keystep` binary would run it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// An entry point of `keystep::fuzzing`.
pub type Entry = fn(&[u8]) -> Result<(), String>;

/// The fuzz targets, by their name in `fuzz/Cargo.toml`.
pub const TARGETS: &[(&str, Entry)] = &[
    ("automation", keystep::fuzzing::automation),
    ("cel", keystep::fuzzing::cel),
    ("directory_import", keystep::fuzzing::directory_import),
    ("schema", keystep::fuzzing::schema),
];

pub fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The files of `fuzz/<kind>/<target>/`, sorted (none if it is missing).
pub fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = fuzz_dir().join(kind).join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// The strings of `fuzz/dict/<target>.dict` (libFuzzer's format: one
/// quoted string a line, `\\`, `\"` and `\xHH` escapes).
pub fn dictionary(target: &str) -> Vec<Vec<u8>> {
    let path = fuzz_dir().join("dict").join(format!("{target}.dict"));
    let text = std::fs::read_to_string(&path).unwrap();
    text.lines()
        .filter_map(|l| l.trim().strip_prefix('"')?.strip_suffix('"'))
        .map(unescape)
        .collect()
}

fn unescape(quoted: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut bytes = quoted.bytes();
    while let Some(b) = bytes.next() {
        match (b, bytes.clone().next()) {
            (b'\\', Some(b'x')) => {
                let hex: Vec<u8> = bytes.by_ref().skip(1).take(2).collect();
                let hex = std::str::from_utf8(&hex).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
            }
            (b'\\', Some(escaped)) => {
                bytes.next();
                out.push(escaped);
            }
            _ => out.push(b),
        }
    }
    out
}

/// Runs `entry` on `data` in a thread with the main thread's usual 8 MiB
/// stack, where the `keystep` binary parses and evaluates. A panic fails
/// the test and shows the input; a stack overflow aborts the test binary.
pub fn run(entry: Entry, data: &[u8], what: &str) -> Result<(), String> {
    let owned = data.to_vec();
    let worker = std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(move || entry(&owned))
        .unwrap();
    match worker.join() {
        Ok(result) => result,
        Err(_) => panic!(
            "{what} panicked (message above) on the {} bytes {:?}",
            data.len(),
            String::from_utf8_lossy(&data[..data.len().min(1024)])
        ),
    }
}

/// Replays every file of `fuzz/<kind>/<target>/` for every target; returns
/// how many inputs each target accepted, by target.
pub fn replay(kind: &str) -> Vec<(&'static str, usize)> {
    TARGETS
        .iter()
        .map(|&(target, entry)| {
            let files = inputs(kind, target);
            let accepted = files
                .iter()
                .filter(|file| {
                    let data = std::fs::read(file).unwrap();
                    run(entry, &data, &file.display().to_string()).is_ok()
                })
                .count();
            (target, accepted)
        })
        .collect()
}

/// A small deterministic generator (xorshift64*): the random run is the same
/// on every machine, so a failure it finds can be replayed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    }
}

/// Longest input the random run makes: it looks for breadth (odd
/// combinations of valid pieces); depth and size are the regressions' job.
const MAX_LEN: usize = 4096;

/// One to four of libFuzzer's simpler mutations of `seed`: flip a byte,
/// insert or overwrite with a dictionary string, delete or repeat a range,
/// splice in part of another input.
pub fn mutate(rng: &mut Rng, seed: &[u8], dict: &[Vec<u8>], others: &[Vec<u8>]) -> Vec<u8> {
    let mut data = seed.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(data.len() + 1);
        let len = rng.below(data.len() - at + 1).min(64);
        match rng.below(6) {
            0 if at < data.len() => data[at] ^= 1 << rng.below(8),
            1 => {
                let word = &dict[rng.below(dict.len())];
                data.splice(at..at, word.iter().copied());
            }
            2 => {
                let word = &dict[rng.below(dict.len())];
                data.splice(at..at + len.min(word.len()), word.iter().copied());
            }
            3 => drop(data.drain(at..at + len)),
            4 => {
                let piece = data[at..at + len].to_vec();
                data.splice(at..at, piece);
            }
            _ => {
                let other = &others[rng.below(others.len())];
                let from = rng.below(other.len() + 1);
                let piece = &other[from..(from + 64).min(other.len())];
                data.splice(at..at, piece.iter().copied());
            }
        }
        data.truncate(MAX_LEN);
    }
    data
}

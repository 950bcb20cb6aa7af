//! The analysis worker: runs the selected models over the open clip's windows on its own thread,
//! the window under the playhead first, then outwards, and sends each result as it comes. A new
//! request (another clip, model or setting) supersedes the running one between windows. Finished
//! analyses are cached on disk per (clip, model, settings), so reopening a clip is instant.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, TryRecvError};

use burn::prelude::Device;

use crate::analysis::{AnalysisSettings, ClipAnalysis, WindowResult};
use crate::runner::LoadedModel;

pub struct Request {
    pub clip: PathBuf,
    pub models: Vec<PathBuf>,
    pub settings: AnalysisSettings,
}

/// A window's place in the clip (seconds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowSpan {
    pub centre: f64,
    pub first_frame: f64,
    pub last_frame: f64,
}

pub enum Event {
    /// Model `model` of the request is loaded and the clip split into windows.
    Ready { generation: u64, model: usize, labels: Vec<String>, config: Box<crate::model::MbtConfig>, windows: Vec<WindowSpan>, crop: crate::features::input::CropMapping },
    Window { generation: u64, model: usize, result: Box<WindowResult> },
    /// Every window of every model is done (`cached`: read from the disk cache).
    Done { generation: u64, cached: bool, seconds: f64 },
    Failed { generation: u64, message: String },
}

pub struct Worker {
    requests: Sender<(u64, Request)>,
    pub events: Receiver<Event>,
    playhead: Arc<AtomicU64>,
    generation: u64,
}

impl Worker {
    pub fn spawn(device: Device, cache_dir: Option<PathBuf>, wake: impl Fn() + Send + 'static) -> Self {
        let (requests, requests_rx) = std::sync::mpsc::channel();
        let (events_tx, events) = std::sync::mpsc::channel();
        let playhead = Arc::new(AtomicU64::new(0f64.to_bits()));
        let shared = playhead.clone();
        std::thread::Builder::new()
            .name("mbtscope-analysis".into())
            .spawn(move || run(device, cache_dir, requests_rx, events_tx, shared, wake))
            .ok();
        Self { requests, events, playhead, generation: 0 }
    }

    /// Starts a new analysis; returns its generation (events of older ones are stale).
    pub fn request(&mut self, request: Request) -> u64 {
        self.generation += 1;
        let _ = self.requests.send((self.generation, request));
        self.generation
    }

    pub fn set_playhead(&self, secs: f64) {
        self.playhead.store(secs.to_bits(), Ordering::Relaxed);
    }
}

fn run(device: Device, cache_dir: Option<PathBuf>, requests: Receiver<(u64, Request)>, events: Sender<Event>, playhead: Arc<AtomicU64>, wake: impl Fn()) {
    let mut models: HashMap<PathBuf, Arc<LoadedModel>> = HashMap::new();
    let mut next = requests.recv().ok();
    while let Some((generation, request)) = next.take() {
        let send = |e: Event| {
            let _ = events.send(e);
            wake();
        };
        let started = std::time::Instant::now();
        // Load the models and open the clip for each.
        let mut jobs = Vec::new();
        let mut failed = false;
        for (i, dir) in request.models.iter().enumerate() {
            let loaded = match models.get(dir) {
                Some(m) => Ok(m.clone()),
                None => crate::runner::load_model_dir(dir, &device).map(Arc::new),
            };
            let opened = loaded.and_then(|m| {
                models.insert(dir.clone(), m.clone());
                ClipAnalysis::open(&request.clip, m.config()).map(|c| (m, c))
            });
            match opened {
                Ok((model, clip)) => {
                    let windows = clip
                        .windows
                        .iter()
                        .map(|w| WindowSpan {
                            centre: w.centre.secs(),
                            first_frame: w.frame_times.first().map_or(0.0, |t| t.secs()),
                            last_frame: w.frame_times.last().map_or(0.0, |t| t.secs()),
                        })
                        .collect();
                    send(Event::Ready {
                        generation,
                        model: i,
                        labels: model.labels.clone(),
                        config: Box::new(model.config().clone()),
                        windows,
                        crop: clip.features.crop_mapping(),
                    });
                    jobs.push((i, dir.clone(), model, clip));
                }
                Err(e) => {
                    send(Event::Failed { generation, message: format!("{}: {e:#}", dir.display()) });
                    failed = true;
                }
            }
        }
        if failed || jobs.is_empty() {
            next = requests.recv().ok();
            continue;
        }
        // Cached results, all or nothing per model.
        let mut done: Vec<Vec<Option<WindowResult>>> = jobs.iter().map(|j| vec![None; j.3.windows.len()]).collect();
        let mut all_cached = true;
        for (k, (i, dir, _, _)) in jobs.iter().enumerate() {
            let cached = cache_dir
                .as_ref()
                .and_then(|c| crate::analysis::read_cache(c, &request.clip, dir, &request.settings, done[k].len()));
            match cached {
                Some(results) => {
                    for r in results {
                        let index = r.index;
                        send(Event::Window { generation, model: *i, result: Box::new(r.clone()) });
                        done[k][index] = Some(r);
                    }
                }
                None => all_cached = false,
            }
        }
        // The rest, nearest the playhead first.
        let mut superseded = false;
        loop {
            match requests.try_recv() {
                Ok(newer) => {
                    next = Some(newer);
                    superseded = true;
                    break;
                }
                Err(TryRecvError::Disconnected) => return,
                Err(TryRecvError::Empty) => {}
            }
            let t = f64::from_bits(playhead.load(Ordering::Relaxed));
            let pick = jobs
                .iter()
                .enumerate()
                .flat_map(|(k, j)| j.3.windows.iter().enumerate().map(move |(w, win)| (k, w, (win.centre.secs() - t).abs())))
                .filter(|&(k, w, _)| done[k][w].is_none())
                .min_by(|a, b| a.2.total_cmp(&b.2));
            let Some((k, w, _)) = pick else { break };
            let (i, _, model, clip) = &mut jobs[k];
            match clip.analyze(&model.model, w, &request.settings) {
                Ok(result) => {
                    done[k][w] = Some(result.clone());
                    send(Event::Window { generation, model: *i, result: Box::new(result) });
                }
                Err(e) => {
                    send(Event::Failed { generation, message: format!("{}: window {w}: {e:#}", request.clip.display()) });
                    superseded = true;
                    break;
                }
            }
        }
        if superseded {
            if next.is_none() {
                next = requests.recv().ok();
            }
            continue;
        }
        if let Some(cache) = &cache_dir {
            for (k, (_, dir, _, _)) in jobs.iter().enumerate() {
                let results: Vec<WindowResult> = done[k].iter().flatten().cloned().collect();
                crate::analysis::write_cache(cache, &request.clip, dir, &request.settings, &results);
            }
        }
        send(Event::Done { generation, cached: all_cached, seconds: started.elapsed().as_secs_f64() });
        next = requests.recv().ok();
    }
}

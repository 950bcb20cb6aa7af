//! The analysis worker: runs the selected models over the open clip's windows on its own thread,
//! the window under the playhead first, then outwards, and sends each result as it comes. A new
//! request (another clip, model or setting) supersedes the running one between windows. Finished
//! analyses are cached on disk per (clip, model, settings), so reopening a clip is instant.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, TryRecvError};

use burn::prelude::Device;

use crate::analysis::{AnalysisSettings, CacheEntry, ClipAnalysis, WindowResult};
use crate::runner::LoadedModel;

pub struct Request {
    pub clip: PathBuf,
    /// The model folders, each with its settings (the app's what-if view asks for one model
    /// twice: with the clip's audio and with altered audio).
    pub models: Vec<(PathBuf, AnalysisSettings)>,
}

/// A window's place in the clip (seconds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowSpan {
    pub centre: f64,
    pub first_frame: f64,
    pub last_frame: f64,
}

impl WindowSpan {
    /// A planned window's place in the clip.
    pub fn of(w: &crate::features::window::Window) -> Self {
        Self {
            centre: w.centre.secs(),
            first_frame: w.frame_times.first().map_or(0.0, |t| t.secs()),
            last_frame: w.frame_times.last().map_or(0.0, |t| t.secs()),
        }
    }
}

pub enum Event {
    /// Model `model` of the request is loaded and the clip split into windows.
    /// `adjusted` says which of the request's settings did not fit this model and were changed
    /// for it alone (see [`crate::analysis::AnalysisSettings::fitted_to`]).
    Ready {
        generation: u64,
        model: usize,
        labels: Vec<String>,
        config: Box<crate::model::MbtConfig>,
        windows: Vec<WindowSpan>,
        crop: crate::features::input::CropMapping,
        adjusted: Vec<String>,
    },
    Window {
        generation: u64,
        model: usize,
        result: Box<WindowResult>,
    },
    /// Every window of every model is done (`cached`: read from the disk cache).
    Done {
        generation: u64,
        cached: bool,
        seconds: f64,
    },
    Failed {
        generation: u64,
        message: String,
    },
}

/// One model's share of a request.
struct Job {
    /// The model's place in the request (and in the events).
    model_index: usize,
    dir: PathBuf,
    model: Arc<LoadedModel>,
    clip: ClipAnalysis,
    /// The request's settings, fitted to this model.
    settings: AnalysisSettings,
    /// Each window's result, once analysed or read from the cache.
    done: Vec<Option<WindowResult>>,
}

impl Job {
    fn cache_entry<'a>(&'a self, dir: &'a std::path::Path, clip: &'a std::path::Path) -> CacheEntry<'a> {
        CacheEntry { dir, clip, model_dir: &self.dir, settings: &self.settings }
    }
}

pub struct Worker {
    /// `None` once shutting down (the thread stops at its next window when it is dropped).
    requests: Option<Sender<(u64, Request)>>,
    pub events: Receiver<Event>,
    playhead: Arc<Playhead>,
    generation: u64,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Why the analysis thread could not be started: every request then fails with it.
    start_error: Option<String>,
    /// For the failures the worker reports itself.
    own_events: Sender<Event>,
}

/// How long dropping the worker waits for its thread to stop (it checks between windows; one
/// window of a large model can take longer, and then the thread is left to finish alone).
const SHUTDOWN_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Where the user is, as the worker sees it.
#[derive(Default)]
struct Playhead {
    secs: AtomicU64,
    playing: AtomicBool,
}

/// While the clip plays, only windows up to this far ahead of the playhead are analysed; the
/// rest waits until playback pauses, so that decoding the clip a second time does not take the
/// cores that playback and drawing need.
const PLAYING_LOOKAHEAD_SECS: f64 = 6.0;

/// The analysis thread's name (and that of the decoder threads it starts).
const ANALYSIS_THREAD: &str = "mbtscope-analysis";

impl Worker {
    pub fn spawn(device: Device, cache_dir: Option<PathBuf>, wake: impl Fn() + Send + 'static) -> Self {
        let (requests, requests_rx) = std::sync::mpsc::channel();
        let (events_tx, events) = std::sync::mpsc::channel();
        let playhead = Arc::new(Playhead::default());
        let shared = playhead.clone();
        let own_events = events_tx.clone();
        let started = std::thread::Builder::new().name(ANALYSIS_THREAD.into()).spawn(move || {
            lower_priority();
            run(device, cache_dir, requests_rx, events_tx, shared, wake);
        });
        let (thread, start_error) = match started {
            Ok(handle) => (Some(handle), None),
            Err(e) => {
                log::error!("cannot start the analysis thread: {e}");
                (None, Some(format!("cannot start the analysis thread: {e}")))
            }
        };
        Self { requests: Some(requests), events, playhead, generation: 0, thread, start_error, own_events }
    }

    /// Starts a new analysis; returns its generation (events of older ones are stale). Without
    /// an analysis thread, the request fails at once and says why.
    pub fn request(&mut self, request: Request) -> u64 {
        self.generation += 1;
        let sent = self.requests.as_ref().is_some_and(|r| r.send((self.generation, request)).is_ok());
        if !sent {
            let message = self.start_error.clone().unwrap_or_else(|| "the analysis thread has stopped".into());
            let _ = self.own_events.send(Event::Failed { generation: self.generation, message });
        }
        self.generation
    }

    /// Stops the running analysis without starting another; returns the generation that
    /// supersedes it (events of older ones are stale).
    pub fn cancel(&mut self) -> u64 {
        self.generation += 1;
        if let Some(r) = &self.requests {
            let _ = r.send((self.generation, Request { clip: PathBuf::new(), models: Vec::new() }));
        }
        self.generation
    }

    /// Stops the analysis thread and waits up to `wait` for it; returns whether it ended.
    fn shut_down(&mut self, wait: std::time::Duration) -> bool {
        self.requests = None;
        let Some(handle) = self.thread.take() else { return true };
        let deadline = std::time::Instant::now() + wait;
        while !handle.is_finished() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        if handle.is_finished() {
            if handle.join().is_err() {
                log::error!("the analysis thread panicked");
            }
            true
        } else {
            log::warn!("the analysis thread is still in a window; leaving it to finish");
            false
        }
    }

    pub fn set_playhead(&self, secs: f64, playing: bool) {
        self.playhead.secs.store(secs.to_bits(), Ordering::Relaxed);
        if self.playhead.playing.swap(playing, Ordering::Relaxed) != playing {
            set_analysis_policy(playing);
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.shut_down(SHUTDOWN_WAIT);
    }
}

/// Gives this thread (and the decoder threads it starts, which inherit it) a lower scheduling
/// priority, so that playback and drawing win the cores when both want them. The analysis only
/// has to keep ahead of the playhead; the UI has to hold its frame rate.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: plain system calls on the calling thread's id; no memory is shared.
        let result = unsafe {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            libc::setpriority(libc::PRIO_PROCESS, tid, 10)
        };
        if result != 0 {
            log::debug!("could not lower the analysis thread's priority: {}", std::io::Error::last_os_error());
        }
    }
}

/// While the clip plays, the analysis runs only on cores nothing else wants (Linux's
/// SCHED_IDLE): the playback, the drawing and the X server come first, and the analysis, which
/// only has to stay a few seconds ahead of the playhead, takes what they leave. Paused, it goes
/// back to the normal policy (at [`lower_priority`]'s niceness) so that other programs cannot
/// starve it. This covers the analysis thread and the decoder threads libavcodec and the model
/// started for it, which carry its name; threads started later inherit the policy. Called from
/// the UI thread when playback starts or stops, so that it takes effect at once rather than
/// after the window being analysed (a second or two at normal priority, which stalled the first
/// repaints of playback). Returns how many threads were switched.
fn set_analysis_policy(playing: bool) -> usize {
    let mut switched = 0;
    #[cfg(target_os = "linux")]
    {
        let policy = if playing { libc::SCHED_IDLE } else { libc::SCHED_OTHER };
        let param = libc::sched_param { sched_priority: 0 };
        // Thread names are cut to 15 bytes by the kernel.
        let name = &ANALYSIS_THREAD[..ANALYSIS_THREAD.len().min(15)];
        for entry in std::fs::read_dir("/proc/self/task").into_iter().flatten().flatten() {
            let Some(tid) = entry.file_name().to_str().and_then(|t| t.parse::<libc::pid_t>().ok()) else { continue };
            let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
            if comm.trim_end() != name {
                continue;
            }
            // SAFETY: a system call on a thread of this process with a parameter on the stack.
            if unsafe { libc::sched_setscheduler(tid, policy, &param) } == 0 {
                switched += 1;
            } else {
                // Leaving SCHED_IDLE may be refused to an unprivileged process; the analysis
                // then stays at idle priority, which costs it time but nothing else.
                log::debug!("could not change the scheduling policy of analysis thread {tid}: {}", std::io::Error::last_os_error());
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = playing;
    switched
}

/// Why a request stopped before its end.
enum Stop {
    /// A newer request arrived (handled next).
    Superseded((u64, Request)),
    /// A window failed (already reported).
    Failed,
    /// The app has gone.
    Disconnected,
}

fn run(
    device: Device,
    cache_dir: Option<PathBuf>,
    requests: Receiver<(u64, Request)>,
    events: Sender<Event>,
    playhead: Arc<Playhead>,
    wake: impl Fn(),
) {
    let mut models: HashMap<PathBuf, Arc<LoadedModel>> = HashMap::new();
    let mut next = requests.recv().ok();
    while let Some((generation, request)) = next.take() {
        // A request for no models only stops the one before it (`Worker::cancel`).
        if request.models.is_empty() {
            next = requests.recv().ok();
            continue;
        }
        let send = |e: Event| {
            let _ = events.send(e);
            // A playing UI repaints for every video frame and picks the event up then; an
            // extra repaint at another moment would only compete with those.
            if !playhead.playing.load(Ordering::Relaxed) {
                wake();
            }
        };
        let started = std::time::Instant::now();
        let Some(mut jobs) = prepare(&request, generation, &device, &mut models, &send) else {
            next = requests.recv().ok();
            continue;
        };
        // Cached results, all or nothing per model.
        let mut all_cached = true;
        for job in &mut jobs {
            let entry = cache_dir.as_deref().map(|dir| job.cache_entry(dir, &request.clip));
            match entry.and_then(|e| e.read(job.done.len(), job.model.config().num_classes)) {
                Some(results) => {
                    for r in results {
                        let index = r.index;
                        send(Event::Window { generation, model: job.model_index, result: Box::new(r.clone()) });
                        job.done[index] = Some(r);
                    }
                }
                None => all_cached = false,
            }
        }
        match analyze_rest(&request, generation, &mut jobs, &requests, &playhead, &send) {
            Ok(()) => {}
            Err(Stop::Superseded(newer)) => {
                next = Some(newer);
                continue;
            }
            Err(Stop::Failed) => {
                next = requests.recv().ok();
                continue;
            }
            Err(Stop::Disconnected) => return,
        }
        if let Some(dir) = &cache_dir {
            for job in &jobs {
                let results: Vec<WindowResult> = job.done.iter().flatten().cloned().collect();
                job.cache_entry(dir, &request.clip).write(&results);
            }
        }
        send(Event::Done { generation, cached: all_cached, seconds: started.elapsed().as_secs_f64() });
        next = requests.recv().ok();
    }
}

/// Loads the request's models (kept in `models` between requests) and opens the clip for each,
/// saying so with `Ready`; `None` (after a `Failed`) when one of them cannot be.
fn prepare(
    request: &Request,
    generation: u64,
    device: &Device,
    models: &mut HashMap<PathBuf, Arc<LoadedModel>>,
    send: &impl Fn(Event),
) -> Option<Vec<Job>> {
    let mut jobs = Vec::new();
    for (i, (dir, wanted)) in request.models.iter().enumerate() {
        let loaded = match models.get(dir) {
            Some(m) => Ok(m.clone()),
            None => crate::runner::load_model_dir(dir, device).map(Arc::new),
        };
        let opened = loaded.and_then(|m| {
            models.insert(dir.clone(), m.clone());
            ClipAnalysis::open(&request.clip, m.config(), wanted.counterfactual.clone()).map(|c| (m, c))
        });
        let (model, clip) = match opened {
            Ok(opened) => opened,
            Err(e) => {
                send(Event::Failed { generation, message: format!("{}: {e:#}", dir.display()) });
                return None;
            }
        };
        let (settings, adjusted) = wanted.fitted_to(model.config());
        let windows = clip.windows.iter().map(WindowSpan::of).collect();
        send(Event::Ready {
            generation,
            model: i,
            labels: model.labels.clone(),
            config: Box::new(model.config().clone()),
            windows,
            crop: clip.features.crop_mapping(),
            adjusted,
        });
        let done = vec![None; clip.windows.len()];
        jobs.push(Job { model_index: i, dir: dir.clone(), model, clip, settings, done });
    }
    (!jobs.is_empty()).then_some(jobs)
}

/// A window still to analyse: the job, the window, and its distance from the playhead.
struct Pick {
    job: usize,
    window: usize,
    distance: f64,
}

/// Analyses the windows not done yet, the one nearest the playhead first (while playing, only
/// those up to [`PLAYING_LOOKAHEAD_SECS`] ahead), until all are done or the request stops.
fn analyze_rest(
    request: &Request,
    generation: u64,
    jobs: &mut [Job],
    requests: &Receiver<(u64, Request)>,
    playhead: &Playhead,
    send: &impl Fn(Event),
) -> Result<(), Stop> {
    loop {
        match requests.try_recv() {
            Ok(newer) => return Err(Stop::Superseded(newer)),
            Err(TryRecvError::Disconnected) => return Err(Stop::Disconnected),
            Err(TryRecvError::Empty) => {}
        }
        let t = f64::from_bits(playhead.secs.load(Ordering::Relaxed));
        let playing = playhead.playing.load(Ordering::Relaxed);
        // While playing: only the windows from the playhead to the lookahead.
        let wanted = |win: &crate::features::Window| {
            !playing || (win.frame_times.last().is_some_and(|&end| end.secs() >= t) && win.centre.secs() - t <= PLAYING_LOOKAHEAD_SECS)
        };
        let mut any_left = false;
        let pick = jobs
            .iter()
            .enumerate()
            .flat_map(|(k, j)| j.clip.windows.iter().enumerate().map(move |(w, win)| (k, w, win)))
            .filter(|&(k, w, _)| jobs[k].done[w].is_none())
            .inspect(|_| any_left = true)
            .filter(|&(_, _, win)| wanted(win))
            .map(|(job, window, win)| Pick { job, window, distance: (win.centre.secs() - t).abs() })
            .min_by(|a, b| a.distance.total_cmp(&b.distance));
        let Some(Pick { job: k, window: w, .. }) = pick else {
            if !any_left {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
            continue;
        };
        let failed = |e: anyhow::Error| {
            send(Event::Failed { generation, message: format!("{}: window {w}: {e:#}", request.clip.display()) });
            Stop::Failed
        };
        // Models that read the same input (same dataset settings, hence the same windows, and
        // the same audio) share one decode of it: at 1080p decoding costs far more than the
        // models.
        let dataset = jobs[k].model.config().dataset_configs.clone();
        let counterfactual = jobs[k].settings.counterfactual.clone();
        let input = jobs[k].clip.input(w).map_err(failed)?;
        let same_input = |j: &Job| j.model.config().dataset_configs == dataset && j.settings.counterfactual == counterfactual;
        for job in jobs.iter_mut().filter(|j| same_input(j) && j.done.get(w).is_some_and(Option::is_none)) {
            let result = job.clip.analyze_input(&job.model.model, w, &input, &job.settings).map_err(failed)?;
            job.done[w] = Some(result.clone());
            send(Event::Window { generation, model: job.model_index, result: Box::new(result) });
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// Dropping the worker stops and joins its thread; a worker whose thread could not start
    /// fails every request with the reason instead of leaving the UI "analysing" forever.
    #[test]
    fn the_worker_joins_its_thread_and_reports_a_failed_start() {
        let mut worker = Worker::spawn(Device::flex(), None, || {});
        assert!(worker.shut_down(std::time::Duration::from_secs(5)), "the idle analysis thread stops when asked");
        let generation = worker.request(Request { clip: PathBuf::from("clip.mp4"), models: Vec::new() });
        let Ok(Event::Failed { generation: g, message }) = worker.events.recv_timeout(std::time::Duration::from_secs(1)) else {
            panic!("a request to a stopped worker must fail")
        };
        assert_eq!(g, generation);
        assert!(message.contains("stopped"), "{message}");
        worker.start_error = Some("cannot start the analysis thread: out of threads".into());
        worker.request(Request { clip: PathBuf::from("clip.mp4"), models: Vec::new() });
        let Ok(Event::Failed { message, .. }) = worker.events.recv_timeout(std::time::Duration::from_secs(1)) else { panic!("no failure") };
        assert!(message.contains("out of threads"), "{message}");
    }

    #[test]
    fn the_analysis_threads_run_at_idle_priority_while_playing() {
        // SAFETY: reads a thread's scheduling policy; no memory is passed.
        let policy = |tid: libc::pid_t| unsafe { libc::sched_getscheduler(tid) };
        // SAFETY: gettid takes no arguments.
        let tid = || unsafe { libc::syscall(libc::SYS_gettid) } as libc::pid_t;
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let analysis = std::thread::Builder::new()
            .name(ANALYSIS_THREAD.into())
            .spawn(move || {
                // A thread it starts (as libavcodec does for its decoder) carries its name.
                let helper = std::thread::spawn(move || {
                    let _ = started_tx.send(tid());
                    let _ = release_rx.recv();
                });
                let _ = helper.join();
            })
            .unwrap();
        let helper_tid = started_rx.recv().unwrap();
        let analysis_tid = std::fs::read_dir("/proc/self/task")
            .unwrap()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<libc::pid_t>().ok())
            .find(|&t| {
                t != helper_tid
                    && std::fs::read_to_string(format!("/proc/self/task/{t}/comm")).unwrap_or_default().trim_end() == &ANALYSIS_THREAD[..15]
            })
            .expect("the analysis thread is listed");
        assert_eq!(policy(helper_tid), libc::SCHED_OTHER);
        // Switched from another thread (the UI's), both at once.
        assert_eq!(set_analysis_policy(true), 2, "switching to idle is always allowed");
        assert_eq!(policy(analysis_tid), libc::SCHED_IDLE);
        assert_eq!(policy(helper_tid), libc::SCHED_IDLE, "the helper thread follows");
        assert_ne!(policy(tid()), libc::SCHED_IDLE, "the caller is not an analysis thread");
        // Back to normal when paused (an unprivileged process may be refused: then it stays).
        let back = set_analysis_policy(false);
        assert_eq!(policy(helper_tid), if back == 2 { libc::SCHED_OTHER } else { libc::SCHED_IDLE });
        let _ = release_tx.send(());
        analysis.join().unwrap();
    }
}

//! One background job on its own thread, with its answer, progress and cancellation: the clip's
//! spectrogram, an export, a checkpoint import, a file dialog. The app polls each task once per
//! frame; the task wakes the UI when it is done.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What a task's job sees of its task: whether it was cancelled, and where to say how far it is.
#[derive(Clone, Default)]
pub struct TaskContext {
    cancel: Arc<AtomicBool>,
    progress: Arc<Mutex<(usize, usize)>>,
}

impl TaskContext {
    /// The cancellation flag, for jobs that check it themselves.
    pub fn cancel_flag(&self) -> &AtomicBool {
        &self.cancel
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    /// `done` of `total` steps.
    pub fn set_progress(&self, done: usize, total: usize) {
        *self.progress.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = (done, total);
    }
}

/// A job running on a named thread. Dropping the task cancels it (a job that checks
/// [`TaskContext::is_cancelled`] stops early) without waiting; [`Task::join`] waits.
pub struct Task<T> {
    name: String,
    answer: Receiver<T>,
    context: TaskContext,
    thread: Option<JoinHandle<()>>,
}

impl<T: Send + 'static> Task<T> {
    /// Starts `job` on a thread called `name`; `wake` is called once the answer is there (the
    /// UI's repaint). Fails, saying why, when the thread cannot be started.
    pub fn spawn(
        name: &str,
        wake: impl Fn() + Send + 'static,
        job: impl FnOnce(&TaskContext) -> T + Send + 'static,
    ) -> Result<Self, String> {
        let (tx, answer) = std::sync::mpsc::channel();
        let context = TaskContext::default();
        let cx = context.clone();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                let _ = tx.send(job(&cx));
                wake();
            })
            .map_err(|e| format!("cannot start the {name} thread: {e}"))?;
        Ok(Self { name: name.to_owned(), answer, context, thread: Some(thread) })
    }
}

impl<T> Task<T> {
    /// The answer, once it is there; an error when the job ended without one (it panicked).
    /// After an answer the task is finished: poll it no more.
    pub fn poll(&mut self) -> Option<Result<T, String>> {
        let answer = match self.answer.try_recv() {
            Ok(answer) => Ok(answer),
            Err(TryRecvError::Empty) => return None,
            Err(TryRecvError::Disconnected) => Err(format!("the {} thread stopped", self.name)),
        };
        if let Some(thread) = self.thread.take() {
            // The job has answered (or died): the thread is ending.
            let _ = thread.join();
        }
        Some(answer)
    }

    /// `(done, total)` as the job last said.
    pub fn progress(&self) -> (usize, usize) {
        *self.context.progress.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn cancel(&self) {
        self.context.cancel.store(true, Ordering::Relaxed);
    }

    /// Cancels the job and waits up to `limit` for its thread to end; says whether it did.
    pub fn join(mut self, limit: Duration) -> bool {
        self.cancel();
        let Some(thread) = self.thread.take() else { return true };
        let deadline = Instant::now() + limit;
        while !thread.is_finished() {
            if Instant::now() >= deadline {
                log::warn!("the {} thread did not stop within {limit:?}; leaving it to finish", self.name);
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = thread.join();
        true
    }
}

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        self.cancel();
        if let Some(thread) = self.thread.take().filter(JoinHandle::is_finished) {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait<T>(task: &mut Task<T>) -> Result<T, String> {
        let start = Instant::now();
        loop {
            if let Some(answer) = task.poll() {
                return answer;
            }
            assert!(start.elapsed() < Duration::from_secs(10), "no answer");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn a_task_answers_wakes_and_reports_progress() {
        let woken = Arc::new(AtomicBool::new(false));
        let w = woken.clone();
        let mut task = Task::spawn(
            "test-answer",
            move || w.store(true, Ordering::SeqCst),
            |cx| {
                cx.set_progress(3, 4);
                42
            },
        )
        .unwrap();
        assert_eq!(wait(&mut task), Ok(42));
        assert!(woken.load(Ordering::SeqCst));
        assert_eq!(task.progress(), (3, 4));
    }

    #[test]
    fn a_panicking_job_is_an_error_not_a_hang() {
        let mut task: Task<()> = Task::spawn("test-panic", || {}, |_| panic!("deliberate")).unwrap();
        let answer = wait(&mut task);
        assert_eq!(answer, Err("the test-panic thread stopped".to_owned()));
    }

    #[test]
    fn dropping_or_joining_a_task_cancels_its_job() {
        let seen = Arc::new(AtomicBool::new(false));
        let s = seen.clone();
        let task = Task::spawn(
            "test-cancel",
            || {},
            move |cx| {
                while !cx.is_cancelled() {
                    std::thread::sleep(Duration::from_millis(1));
                }
                s.store(true, Ordering::SeqCst);
            },
        )
        .unwrap();
        assert!(task.join(Duration::from_secs(5)), "the job stops when cancelled");
        assert!(seen.load(Ordering::SeqCst));

        let seen = Arc::new(AtomicBool::new(false));
        let s = seen.clone();
        let task = Task::spawn(
            "test-drop",
            || {},
            move |cx| {
                while !cx.is_cancelled() {
                    std::thread::sleep(Duration::from_millis(1));
                }
                s.store(true, Ordering::SeqCst);
            },
        )
        .unwrap();
        drop(task);
        let start = Instant::now();
        while !seen.load(Ordering::SeqCst) {
            assert!(start.elapsed() < Duration::from_secs(5), "a dropped task's job is cancelled");
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

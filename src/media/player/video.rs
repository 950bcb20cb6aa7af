//! The video worker: decodes frames a few ahead of the playhead into the shared queue, seeks to
//! the frame shown at a time, and rescales what is queued when the view changes size.

use std::collections::VecDeque;
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use super::VIDEO_QUEUE;
use crate::media::time::Timestamp;
use crate::media::video::{VideoDecoder, VideoFrame};

pub(super) enum VideoCommand {
    Seek(Timestamp),
    /// Scale the frames decoded from now on to this size (None: the clip's own).
    Resize(Option<(u32, u32)>),
    Stop,
}

pub(super) struct FrameQueue {
    pub(super) frames: VecDeque<Arc<VideoFrame>>,
    pub(super) generation: u64,
    pub(super) ended: bool,
    pub(super) error: Option<String>,
}

/// `width x height` scaled down to fit within `max_width x max_height` (even sides, aspect
/// kept), or None when it already fits.
pub fn fit_within(width: u32, height: u32, max_width: u32, max_height: u32) -> Option<(u32, u32)> {
    let scale = (f64::from(max_width) / f64::from(width.max(1))).min(f64::from(max_height) / f64::from(height.max(1)));
    if scale >= 1.0 {
        return None;
    }
    let even = |v: u32| ((f64::from(v) * scale / 2.0).round() as u32 * 2).max(2);
    Some((even(width), even(height)))
}

pub(super) fn video_worker(
    mut decoder: VideoDecoder,
    size: Option<(u32, u32)>,
    commands: Receiver<VideoCommand>,
    queue: &(Mutex<FrameQueue>, Condvar),
) {
    if let Some((w, h)) = size {
        decoder.set_display_size(w, h);
    }
    let (lock, cvar) = queue;
    let mut generation = 0u64;
    let mut decoding = false;
    loop {
        // Commands first; block on them while idle.
        let command = if decoding { commands.try_recv().ok() } else { commands.recv().ok().or(Some(VideoCommand::Stop)) };
        match command {
            Some(VideoCommand::Stop) => return,
            Some(VideoCommand::Resize(size)) => {
                match size {
                    Some((w, h)) => decoder.set_display_size(w, h),
                    None => decoder.clear_output_size(),
                }
                // The frames already queued were decoded at the old size. Bring them to the new
                // one here, off the UI thread: at start-up the queue holds frames decoded before
                // the first layout (at 1280x720), and uploading and drawing those made the first
                // repaints of playback up to 150 ms long.
                let info = decoder.info();
                rescale_queue(lock, size.unwrap_or((info.width, info.height)));
                continue;
            }
            Some(VideoCommand::Seek(t)) => {
                generation += 1;
                decoding = seek_to(&mut decoder, queue, t, generation);
                continue;
            }
            None => {}
        }
        if !decoding {
            continue;
        }
        match wait_for_room(queue, generation) {
            Room::Free => {}
            Room::Full => continue,
            Room::Closed => return,
        }
        match decoder.next_frame() {
            Ok(Some(f)) => push(lock, cvar, f, generation),
            Ok(None) => {
                mark_ended(lock);
                decoding = false;
            }
            Err(e) => {
                set_error(lock, e.to_string());
                decoding = false;
            }
        }
    }
}

/// Seeks to the keyframe before `t` and queues the frame shown at `t` (the last one at or before
/// it) and the one after; says whether decoding goes on (not at the end or after an error).
fn seek_to(decoder: &mut VideoDecoder, (lock, cvar): &(Mutex<FrameQueue>, Condvar), t: Timestamp, generation: u64) -> bool {
    if let Err(e) = decoder.seek_keyframe(t) {
        set_error(lock, e.to_string());
        return false;
    }
    let mut held: Option<VideoFrame> = None;
    loop {
        match decoder.next_frame() {
            Ok(Some(f)) if f.pts <= t => held = Some(f),
            Ok(Some(f)) => {
                if let Some(h) = held.take() {
                    push(lock, cvar, h, generation);
                }
                push(lock, cvar, f, generation);
                return true;
            }
            Ok(None) => {
                if let Some(h) = held.take() {
                    push(lock, cvar, h, generation);
                }
                mark_ended(lock);
                return false;
            }
            Err(e) => {
                set_error(lock, e.to_string());
                return false;
            }
        }
    }
}

/// Whether the queue has room for one more frame of `generation`.
enum Room {
    Free,
    /// Still full after a short wait: look at the commands again.
    Full,
    /// The player is gone.
    Closed,
}

fn wait_for_room((lock, cvar): &(Mutex<FrameQueue>, Condvar), generation: u64) -> Room {
    let Ok(mut q) = lock.lock() else { return Room::Closed };
    while q.frames.len() >= VIDEO_QUEUE && q.generation == generation {
        let Ok((guard, _)) = cvar.wait_timeout(q, Duration::from_millis(20)) else { return Room::Closed };
        q = guard;
        if q.frames.len() >= VIDEO_QUEUE {
            break;
        }
    }
    if q.generation == u64::MAX {
        Room::Closed
    } else if q.frames.len() >= VIDEO_QUEUE {
        Room::Full
    } else {
        Room::Free
    }
}

/// Scales the queued frames that are not `size` to it. The scaling runs outside the lock; a
/// frame the display took meanwhile is left as it was.
pub(super) fn rescale_queue(lock: &Mutex<FrameQueue>, size: (u32, u32)) {
    let stale: Vec<Arc<VideoFrame>> = match lock.lock() {
        Ok(q) => q.frames.iter().filter(|f| (f.width, f.height) != size).cloned().collect(),
        Err(_) => return,
    };
    let scaled: Vec<(Arc<VideoFrame>, Arc<VideoFrame>)> = stale
        .into_iter()
        .filter_map(|old| match crate::media::video::scale_frame(&old, size.0, size.1) {
            Ok(new) => Some((old, Arc::new(new))),
            // Keep the frame as it is: the display copes with any size, only more slowly.
            Err(e) => {
                log::debug!("could not rescale a queued frame: {e}");
                None
            }
        })
        .collect();
    let Ok(mut q) = lock.lock() else { return };
    for (old, new) in scaled {
        if let Some(slot) = q.frames.iter_mut().find(|f| Arc::ptr_eq(f, &old)) {
            *slot = new;
        }
    }
}

pub(super) fn push(lock: &Mutex<FrameQueue>, cvar: &Condvar, frame: VideoFrame, generation: u64) {
    if let Ok(mut q) = lock.lock() {
        if q.generation == generation {
            q.frames.push_back(Arc::new(frame));
        }
        cvar.notify_all();
    }
}

pub(super) fn mark_ended(lock: &Mutex<FrameQueue>) {
    if let Ok(mut q) = lock.lock() {
        q.ended = true;
    }
}

pub(super) fn set_error(lock: &Mutex<FrameQueue>, error: String) {
    if let Ok(mut q) = lock.lock() {
        q.error = Some(error);
        q.ended = true;
    }
}

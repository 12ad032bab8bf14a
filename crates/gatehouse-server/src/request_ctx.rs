//! What the edge middleware knows about the request being handled, available to everything
//! that runs inside it (handlers, the audit trail, the throttle, every log line) through a
//! task-local. Log lines take their request id, method, path and subject from here rather
//! than from a per-request `tracing` span: the span, its formatted fields and its
//! enter/exit on every poll were a large share of a request's CPU time
//! (docs/PERFORMANCE.md).
//!
//! The context lives in a thread-local slot that a request's future swaps in around each of
//! its polls ([`Scoped`]), like `tokio::task_local!`, which this replaces for one reason: the
//! edge also enters the context for the synchronous call into the inner service
//! ([`enter`]), so that the call happens at once instead of on the first poll. That spares a
//! clone of the whole service stack per request and keeps the service and the request out of
//! the response future that hyper moves around.

use std::{
    cell::{OnceCell, RefCell},
    future::Future,
    net::IpAddr,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use axum::http::{HeaderValue, Method, Uri};
use gatehouse_core::{Principal, Subject};

/// The current request, as the edge middleware saw it.
#[derive(Debug, Clone)]
pub struct RequestCtx {
    /// `X-Request-Id` (a header value: cloning it per request copies no bytes).
    pub request_id: HeaderValue,
    /// Client IP, resolved through trusted proxies.
    pub ip: Option<IpAddr>,
    /// Request method.
    pub method: Method,
    /// Request URI (its path is logged; the query never is: it may carry an API key).
    pub uri: Uri,
    /// Who the request authenticated as, once the authenticator has accepted a credential
    /// (shared with the authenticator's answer: noting it copies nothing).
    pub principal: OnceCell<Arc<Principal>>,
    /// The route template the request matched (set by [`crate::metrics::MarkRouteLayer`]).
    pub route: OnceCell<Arc<str>>,
}

impl RequestCtx {
    /// The context of a request that has not been routed or authenticated yet.
    pub fn new(request_id: HeaderValue, ip: Option<IpAddr>, method: Method, uri: Uri) -> Self {
        Self { request_id, ip, method, uri, principal: OnceCell::new(), route: OnceCell::new() }
    }

    /// Who the request authenticated as, if anyone yet.
    pub fn subject(&self) -> Option<&Subject> {
        self.principal.get().map(|p| &p.subject)
    }
}

thread_local! {
    /// The slot [`enter`] swaps a request's context into. Boxed: a request enters its scope
    /// three times or more, and each entry swaps the context in and out of here; moving a
    /// pointer instead of the ≈ 200-byte context is cheaper than the one allocation
    /// (docs/PERFORMANCE.md).
    static CURRENT: RefCell<Option<Box<RequestCtx>>> = const { RefCell::new(None) };
}

/// The current request's context (set for the whole handling of each request).
pub static REQUEST: RequestLocal = RequestLocal { _private: () };

/// The handle on the current request's context: see [`REQUEST`].
#[derive(Debug)]
pub struct RequestLocal {
    _private: (),
}

/// The code asking runs outside any request's scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not inside a request's scope")]
pub struct NoRequest;

impl RequestLocal {
    /// Calls `f` with the current request's context.
    ///
    /// # Errors
    /// [`NoRequest`] outside a request's scope (also while the thread is exiting, or from
    /// inside another `try_with` that is entering a scope of its own).
    pub fn try_with<R>(&'static self, f: impl FnOnce(&RequestCtx) -> R) -> Result<R, NoRequest> {
        CURRENT
            .try_with(|cell| {
                let current = cell.try_borrow().map_err(|_| NoRequest)?;
                current.as_deref().map(f).ok_or(NoRequest)
            })
            .unwrap_or(Err(NoRequest))
    }

    /// `fut`, run with `ctx` as the current request's context.
    pub fn scope<F: Future>(&'static self, ctx: RequestCtx, fut: F) -> Scoped<F> {
        Scoped::new(Some(Box::new(ctx)), fut)
    }
}

/// Runs `f` with the context in `slot` as the current request's, then puts it back in
/// `slot` (also if `f` panics); the context that was current before is restored. If the
/// slot cannot be entered (the thread is exiting, or `f` is called from inside
/// [`RequestLocal::try_with`]), `f` runs without it.
pub fn enter<R>(slot: &mut Option<Box<RequestCtx>>, f: impl FnOnce() -> R) -> R {
    /// Swaps the context back into its slot when dropped.
    struct Restore<'a> {
        slot: &'a mut Option<Box<RequestCtx>>,
        previous: Option<Box<RequestCtx>>,
    }
    impl Drop for Restore<'_> {
        fn drop(&mut self) {
            let _ = CURRENT.try_with(|cell| {
                if let Ok(mut current) = cell.try_borrow_mut() {
                    *self.slot = std::mem::replace(&mut *current, self.previous.take());
                }
            });
        }
    }
    let swapped = CURRENT
        .try_with(|cell| cell.try_borrow_mut().map(|mut current| std::mem::replace(&mut *current, slot.take())).ok())
        .ok()
        .flatten();
    match swapped {
        Some(previous) => {
            let _restore = Restore { slot, previous };
            f()
        }
        None => f(),
    }
}

pin_project_lite::pin_project! {
    /// A future run inside a request's scope: [`enter`] around every poll, and around
    /// dropping it (its destructors may log too): when it completes, or when the unfinished
    /// future is dropped.
    pub struct Scoped<F> {
        ctx: Option<Box<RequestCtx>>,
        #[pin]
        fut: Option<F>,
    }

    impl<F> PinnedDrop for Scoped<F> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            if this.fut.is_some() {
                enter(this.ctx, || this.fut.set(None));
            }
        }
    }
}

impl<F> Scoped<F> {
    /// `fut` in the scope of `ctx` (`None`: outside any request).
    pub fn new(ctx: Option<Box<RequestCtx>>, fut: F) -> Self {
        Self { ctx, fut: Some(fut) }
    }
}

impl<F: Future> Future for Scoped<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let mut this = self.project();
        enter(this.ctx, || {
            let Some(fut) = this.fut.as_mut().as_pin_mut() else {
                panic!("a request-scoped future was polled after it completed");
            };
            let out = fut.poll(cx);
            if out.is_ready() {
                // Dropped here, still in scope, rather than by entering it again on drop.
                this.fut.set(None);
            }
            out
        })
    }
}

/// Records who the current request authenticated as (for its log lines). Outside a
/// request, or once already set, this does nothing.
pub fn set_principal(principal: &Arc<Principal>) {
    let _ = REQUEST.try_with(|c| {
        if c.principal.get().is_none() {
            let _ = c.principal.set(Arc::clone(principal));
        }
    });
}

/// [`set_principal`] for a bare subject (tests of the log formats).
#[cfg(test)]
pub fn set_subject(subject: &Subject) {
    set_principal(&Arc::new(Principal {
        subject: subject.clone(),
        scopes: gatehouse_core::ScopeSet::default(),
        client_id: "test".into(),
        session_id: None,
        credential_id: None,
        issued_at: 0,
        expires_at: i64::MAX,
        kind: gatehouse_core::CredentialKind::AccessToken,
    }));
}

#[cfg(test)]
mod tests {
    use std::{future::poll_fn, sync::atomic::AtomicUsize};

    use super::*;

    fn ctx(id: &'static str) -> Box<RequestCtx> {
        Box::new(RequestCtx::new(HeaderValue::from_static(id), None, Method::GET, Uri::from_static("/x")))
    }

    fn current_id() -> Option<String> {
        REQUEST.try_with(|c| c.request_id.to_str().unwrap().to_owned()).ok()
    }

    #[test]
    fn enter_sets_the_context_for_the_call_and_hands_it_back() {
        assert_eq!(REQUEST.try_with(|_| ()), Err(NoRequest));
        let mut slot = Some(ctx("a"));
        let seen = enter(&mut slot, || {
            set_subject(&Subject::User("u1".into()));
            current_id()
        });
        assert_eq!(seen.as_deref(), Some("a"));
        assert_eq!(current_id(), None, "outside again after the call");
        let back = slot.expect("the context is back in its slot");
        assert_eq!(back.subject(), Some(&Subject::User("u1".into())), "what the call noted is kept");
    }

    #[test]
    fn nested_scopes_restore_the_outer_one_even_after_a_panic() {
        let mut outer = Some(ctx("outer"));
        enter(&mut outer, || {
            let mut inner = Some(ctx("inner"));
            let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                enter(&mut inner, || {
                    assert_eq!(current_id().as_deref(), Some("inner"));
                    panic!("boom");
                })
            }));
            assert!(caught.is_err());
            assert!(inner.is_some(), "the inner context went back to its slot while unwinding");
            assert_eq!(current_id().as_deref(), Some("outer"));
        });
        assert!(outer.is_some());
        assert_eq!(current_id(), None);
    }

    #[test]
    fn entering_from_inside_try_with_runs_outside_the_new_scope_instead_of_panicking() {
        let mut outer = Some(ctx("outer"));
        enter(&mut outer, || {
            REQUEST
                .try_with(|_| {
                    let mut inner = Some(ctx("inner"));
                    // The current slot is borrowed: the call runs, without the inner context.
                    let ran = enter(&mut inner, || true);
                    assert!(ran);
                    assert!(inner.is_some(), "the inner context stayed in its slot");
                })
                .unwrap();
        });
    }

    #[tokio::test]
    async fn scoped_futures_see_their_context_on_every_poll_and_when_dropped() {
        static SEEN_AT_DROP: AtomicUsize = AtomicUsize::new(0);
        struct NotesDrop;
        impl Drop for NotesDrop {
            fn drop(&mut self) {
                if current_id().as_deref() == Some("dropped") {
                    SEEN_AT_DROP.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
            }
        }

        let mut polls = 0;
        let a = REQUEST.scope(
            *ctx("a"),
            poll_fn(move |cx| {
                assert_eq!(current_id().as_deref(), Some("a"));
                polls += 1;
                if polls < 3 {
                    cx.waker().wake_by_ref();
                    Poll::Pending
                } else {
                    Poll::Ready(polls)
                }
            }),
        );
        let b = REQUEST.scope(*ctx("b"), async {
            tokio::task::yield_now().await;
            current_id()
        });
        let (a, b) = tokio::join!(a, b);
        assert_eq!((a, b.as_deref()), (3, Some("b")));
        assert_eq!(current_id(), None);

        let pending = REQUEST.scope(*ctx("dropped"), async {
            let _guard = NotesDrop;
            std::future::pending::<()>().await;
        });
        let mut pending = Box::pin(pending);
        assert!(futures_util::poll!(pending.as_mut()).is_pending());
        drop(pending);
        assert_eq!(SEEN_AT_DROP.load(std::sync::atomic::Ordering::SeqCst), 1, "dropped inside its scope");
    }
}

//! The one paging shape of every chatport connector: a [`Listing`] with
//! [`pages`](Listing::pages) and [`items`](Listing::items).
//!
//! Every paginated call of a connector (`cms.instances(..)`, `dam.search(..)`,
//! `creatio.entities(..)`, `wa.templates(..)`) takes its query **by reference** (it is cloned
//! inside) and returns a `Listing`. Nothing is sent until a stream is polled. Both streams are
//! boxed, `Send + 'static` and [`Unpin`], so they are drained with
//! `while let Some(x) = stream.try_next().await?` without pinning. A connector's page stream
//! yields the first error it meets and then ends.
//!
//! ```
//! use chatport_core::paging::Listing;
//! use futures::TryStreamExt as _;
//!
//! # futures::executor::block_on(async {
//! // Two pages of two rows; each connector builds its listing from the vendor's paging rule.
//! let pages = futures::stream::iter([Ok::<_, std::io::Error>(vec![1, 2]), Ok(vec![3])]);
//! let mut items = Listing::new(pages, |page: Vec<u32>| page).items();
//! let mut seen = Vec::new();
//! while let Some(n) = items.try_next().await? {
//!     seen.push(n);
//! }
//! assert_eq!(seen, [1, 2, 3]);
//! # Ok::<_, std::io::Error>(()) }).unwrap();
//! ```

use std::fmt;

use futures::stream::{self, BoxStream, Stream, StreamExt as _, TryStreamExt as _};

/// A boxed, `Unpin`, `Send + 'static` stream of `Result<T, E>`: what
/// [`Listing::pages`] and [`Listing::items`] return.
pub type ResultStream<T, E> = BoxStream<'static, Result<T, E>>;

/// A paginated collection not read yet: `P` is one page as the vendor answers it, `T` one item
/// of a page, `E` the connector's error.
///
/// Built by a connector's paginated call; [`Listing::pages`] reads it page by page (to see a
/// page's total or cursor), [`Listing::items`] item by item across page boundaries.
pub struct Listing<P, T, E> {
    pages: ResultStream<P, E>,
    items_of: fn(P) -> Vec<T>,
}

impl<P, T, E> Listing<P, T, E>
where
    P: Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    /// A listing over a lazy stream of pages; `items_of` takes the items out of one page.
    pub fn new<S>(pages: S, items_of: fn(P) -> Vec<T>) -> Self
    where
        S: Stream<Item = Result<P, E>> + Send + 'static,
    {
        Self {
            pages: pages.boxed(),
            items_of,
        }
    }

    /// A listing whose only item is `error` (a query that could not be turned into a request,
    /// such as an invalid name in a URL): both streams yield it and end.
    pub fn failed(error: E) -> Self {
        Self {
            pages: stream::once(async move { Err(error) }).boxed(),
            items_of: |_| Vec::new(),
        }
    }

    /// The pages, fetched one after another as the stream is read.
    pub fn pages(self) -> ResultStream<P, E> {
        self.pages
    }

    /// The items of every page, in order, crossing page boundaries; the next page is fetched
    /// when the items of the current one are consumed.
    pub fn items(self) -> ResultStream<T, E> {
        let items_of = self.items_of;
        self.pages
            .map_ok(move |page| stream::iter(items_of(page).into_iter().map(Ok)))
            .try_flatten()
            .boxed()
    }
}

impl<P, T, E> fmt::Debug for Listing<P, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listing").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_cross_pages_and_stop_at_the_first_error() {
        let pages = stream::iter([Ok(vec![1, 2]), Err("boom"), Ok(vec![3])]);
        let listing = Listing::new(pages, |p: Vec<u8>| p);
        let got: Vec<Result<u8, &str>> =
            futures::executor::block_on(listing.items().collect::<Vec<_>>());
        // try_flatten passes the error on; the caller's `try_next()?` stops there.
        assert_eq!(got[..3], [Ok(1), Ok(2), Err("boom")]);
    }

    #[test]
    fn a_failed_listing_yields_its_error() {
        let listing: Listing<Vec<u8>, u8, &str> = Listing::failed("bad set");
        let got: Vec<_> = futures::executor::block_on(listing.pages().collect::<Vec<_>>());
        assert_eq!(got, [Err("bad set")]);
    }
}

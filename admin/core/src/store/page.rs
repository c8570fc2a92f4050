//! Pagination of list queries.

use std::fmt;

/// Which slice of a list to return: 1-based `page`, `per_page` items
/// (1..=100). Default: page 1, 20 per page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Page {
    page: u32,
    per_page: u32,
}

/// An out-of-range page request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    /// `page` was 0.
    #[error("invalid page 0: pages are numbered from 1")]
    Page,
    /// `per_page` was 0 or above [`Page::MAX_PER_PAGE`].
    #[error("invalid per_page {0}: expected 1 to 100")]
    PerPage(u32),
}

impl Page {
    /// Items per page when not specified.
    pub const DEFAULT_PER_PAGE: u32 = 20;
    /// Largest accepted `per_page`.
    pub const MAX_PER_PAGE: u32 = 100;

    /// A page request; `page` ≥ 1, `per_page` in 1..=100.
    pub fn new(page: u32, per_page: u32) -> Result<Self, PageError> {
        if page == 0 {
            return Err(PageError::Page);
        }
        if per_page == 0 || per_page > Self::MAX_PER_PAGE {
            return Err(PageError::PerPage(per_page));
        }
        Ok(Self { page, per_page })
    }

    /// Page `page` (≥ 1) with the default size.
    pub fn number(page: u32) -> Result<Self, PageError> {
        Self::new(page, Self::DEFAULT_PER_PAGE)
    }

    /// The 1-based page number.
    pub fn page(self) -> u32 {
        self.page
    }

    /// Items per page.
    pub fn per_page(self) -> u32 {
        self.per_page
    }

    /// SQL `LIMIT`.
    pub(crate) fn limit(self) -> i64 {
        i64::from(self.per_page)
    }

    /// SQL `OFFSET`: items before this page.
    pub(crate) fn offset(self) -> i64 {
        (i64::from(self.page) - 1) * i64::from(self.per_page)
    }
}

impl Default for Page {
    fn default() -> Self {
        Self {
            page: 1,
            per_page: Self::DEFAULT_PER_PAGE,
        }
    }
}

impl fmt::Display for Page {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "page {} ({} per page)", self.page, self.per_page)
    }
}

impl<'de> serde::Deserialize<'de> for Page {
    /// `{"page": 2, "per_page": 50}`; both optional (defaults 1 and 20),
    /// validated like [`Page::new`].
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        struct Raw {
            page: Option<u32>,
            per_page: Option<u32>,
        }
        let raw = Raw::deserialize(d)?;
        Page::new(
            raw.page.unwrap_or(1),
            raw.per_page.unwrap_or(Page::DEFAULT_PER_PAGE),
        )
        .map_err(serde::de::Error::custom)
    }
}

/// One page of a list plus the total number of matching items.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Paged<T> {
    /// The items of this page (empty past the last page).
    pub items: Vec<T>,
    /// How many items match in total, across all pages.
    pub total: u64,
    /// The 1-based page number that was requested.
    pub page: u32,
    /// The page size that was requested.
    pub per_page: u32,
}

impl<T> Paged<T> {
    pub(crate) fn new(items: Vec<T>, total: u64, page: Page) -> Self {
        Self {
            items,
            total,
            page: page.page,
            per_page: page.per_page,
        }
    }

    /// Number of pages (0 when there are no items).
    pub fn total_pages(&self) -> u64 {
        self.total.div_ceil(u64::from(self.per_page.max(1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds() {
        assert_eq!(Page::new(0, 20), Err(PageError::Page));
        assert_eq!(Page::new(1, 0), Err(PageError::PerPage(0)));
        assert_eq!(Page::new(1, 101), Err(PageError::PerPage(101)));
        let p = Page::new(3, 100).unwrap();
        assert_eq!((p.limit(), p.offset()), (100, 200));
        let d = Page::default();
        assert_eq!((d.page(), d.per_page(), d.offset()), (1, 20, 0));
        assert_eq!(Page::number(2).unwrap().offset(), 20);
        let big = Page::new(u32::MAX, 100).unwrap();
        assert_eq!(big.offset(), (i64::from(u32::MAX) - 1) * 100);
    }

    #[test]
    fn deserializes_through_validation() {
        let p: Page = serde_json::from_str(r#"{"page":2}"#).unwrap();
        assert_eq!((p.page(), p.per_page()), (2, 20));
        assert!(serde_json::from_str::<Page>(r#"{"per_page":500}"#).is_err());
        assert!(serde_json::from_str::<Page>(r#"{"page":0}"#).is_err());
    }

    #[test]
    fn total_pages() {
        let p = Paged::<u8>::new(vec![], 41, Page::default());
        assert_eq!(p.total_pages(), 3);
        assert_eq!(
            Paged::<u8>::new(vec![], 0, Page::default()).total_pages(),
            0
        );
    }
}

//! Test helpers: OpenDAL layers that make a store misbehave in ways real servers do.
//!
//! Wrap an operator with one and hand it to [`super::ObjectStore::from_operator`]:
//!
//! ```
//! use firn_store::testing::IgnoreConditionalWritesLayer;
//! use firn_store::ObjectStore;
//!
//! let op = opendal::Operator::new(opendal::services::Memory::default())
//!     .expect("memory operator")
//!     .layer(IgnoreConditionalWritesLayer);
//! let store = ObjectStore::from_operator(op, "memory://ignores-if-none-match".into());
//! ```

use opendal::options::WriteOptions;
use opendal::raw::*;
use opendal::{Capability, OperationContext, Result};

/// Simulates an S3-compatible server that ignores `If-None-Match: *` (as Garage 2.5 does):
/// the operator keeps claiming support for conditional creates, but every write reaches the
/// service without its `if_not_exists` condition (or an `If-None-Match: *`), so a second
/// create silently replaces the first. Everything else passes through unchanged.
#[derive(Debug, Clone, Copy, Default)]
pub struct IgnoreConditionalWritesLayer;

impl Layer for IgnoreConditionalWritesLayer {
    fn apply_service(&self, inner: Servicer) -> Servicer {
        std::sync::Arc::new(IgnoreConditionalWrites { inner })
    }
}

/// The service behind [`IgnoreConditionalWritesLayer`].
#[derive(Debug)]
pub struct IgnoreConditionalWrites {
    inner: Servicer,
}

/// `args` without the create-only-if-absent conditions.
fn drop_condition(cap: &Capability, args: &OpWrite) -> Result<OpWrite> {
    let owned = |v: Option<&str>| v.map(str::to_string);
    let options = WriteOptions {
        append: args.append(),
        cache_control: owned(args.cache_control()),
        content_type: owned(args.content_type()),
        content_disposition: owned(args.content_disposition()),
        content_encoding: owned(args.content_encoding()),
        if_match: owned(args.if_match()),
        if_none_match: owned(args.if_none_match()).filter(|v| v != "*"),
        if_version_match: owned(args.if_version_match()),
        if_version_not_match: owned(args.if_version_not_match()),
        if_not_exists: false,
        concurrent: args.concurrent(),
        ..WriteOptions::default()
    };
    OpWrite::from_options(cap, options).map(|(args, _)| args)
}

impl Service for IgnoreConditionalWrites {
    type Reader = oio::Reader;
    type Writer = oio::Writer;
    type Lister = oio::Lister;
    type Deleter = oio::Deleter;
    type Copier = oio::Copier;
    type Composer = oio::Composer;

    fn info(&self) -> ServiceInfo {
        self.inner.info()
    }

    fn capability(&self) -> Capability {
        let mut cap = self.inner.capability();
        // Claim the support a misbehaving server would claim.
        cap.write_with_if_not_exists = true;
        cap
    }

    async fn create_dir(
        &self,
        ctx: &OperationContext,
        path: &str,
        args: OpCreateDir,
    ) -> Result<RpCreateDir> {
        self.inner.create_dir(ctx, path, args).await
    }

    async fn stat(&self, ctx: &OperationContext, path: &str, args: OpStat) -> Result<RpStat> {
        self.inner.stat(ctx, path, args).await
    }

    fn read(&self, ctx: &OperationContext, path: &str, args: OpRead) -> Result<Self::Reader> {
        self.inner.read(ctx, path, args)
    }

    fn write(&self, ctx: &OperationContext, path: &str, args: OpWrite) -> Result<Self::Writer> {
        let args = drop_condition(&self.inner.capability(), &args)?;
        self.inner.write(ctx, path, args)
    }

    fn delete(&self, ctx: &OperationContext) -> Result<Self::Deleter> {
        self.inner.delete(ctx)
    }

    fn list(&self, ctx: &OperationContext, path: &str, args: OpList) -> Result<Self::Lister> {
        self.inner.list(ctx, path, args)
    }

    fn copy(
        &self,
        ctx: &OperationContext,
        from: &str,
        to: &str,
        args: OpCopy,
    ) -> Result<Self::Copier> {
        self.inner.copy(ctx, from, to, args)
    }

    fn compose(&self, ctx: &OperationContext, to: &str, args: OpCompose) -> Result<Self::Composer> {
        self.inner.compose(ctx, to, args)
    }

    async fn rename(
        &self,
        ctx: &OperationContext,
        from: &str,
        to: &str,
        args: OpRename,
    ) -> Result<RpRename> {
        self.inner.rename(ctx, from, to, args).await
    }

    async fn restore(
        &self,
        ctx: &OperationContext,
        path: &str,
        args: OpRestore,
    ) -> Result<RpRestore> {
        self.inner.restore(ctx, path, args).await
    }

    async fn presign(
        &self,
        ctx: &OperationContext,
        path: &str,
        args: OpPresign,
    ) -> Result<RpPresign> {
        self.inner.presign(ctx, path, args).await
    }
}

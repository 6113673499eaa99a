//! `images.*`: the engine lists the images it runs and refuses a tarball that is none.

use bytes::Bytes;

use super::{Trial, TrialContext, TrialResult, ensure, fail};
use anyctr_core::ErrorKind;
use anyctr_core::model::normalize_image_ref;

pub(super) fn trials() -> Vec<Trial> {
    vec![
        Trial { name: "images.list", requires: &["images"], run: |c| Box::pin(list(c)) },
        Trial { name: "images.load_refuses_junk", requires: &["images"], run: |c| Box::pin(load_junk(c)) },
    ]
}

async fn list(ctx: &TrialContext) -> TrialResult {
    let images = ctx.engine.list_images().await.map_err(fail("list_images"))?;
    let want = normalize_image_ref(&ctx.fixture.spec.image);
    let found = images.iter().find(|i| i.tags.iter().any(|t| normalize_image_ref(t) == want));
    ensure!(found.is_some(), "the fixture's image {want} is not among the {} listed", images.len());
    Ok(format!("{want} among {} images", images.len()))
}

async fn load_junk(ctx: &TrialContext) -> TrialResult {
    // Loading a real image would leave it behind (there is no image removal); junk must be refused.
    let before = ctx.engine.list_images().await.map_err(fail("list_images"))?.len();
    let junk: anyctr_core::ByteStream =
        Box::pin(futures_util::stream::iter([Ok(Bytes::from_static(b"not an image tarball, not at all"))]));
    match ctx.engine.load_image(junk).await {
        Err(e) if e.kind() == ErrorKind::InvalidArgument => {}
        other => return Err(format!("a junk tarball gave {other:?}, want InvalidArgument")),
    }
    let after = ctx.engine.list_images().await.map_err(fail("list_images"))?.len();
    ensure!(after <= before, "a refused load added images ({before} → {after})");
    Ok("refused with InvalidArgument, nothing loaded".into())
}

//! Ordered tuple keys (`firn::tuple`) through the engine: composite keys
//! written in random order, partly flushed into chunks, come back from a
//! prefix range scan in tuple order (integers numerically), forwards and
//! backwards, and unpack to the tuples written.

use firn::tuple::{self, Element, Tuple};
use firn_tests::TestDb;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

fn order_key(user: i64, order: u64) -> Tuple {
    Tuple::new().push(user).push("orders").push(order)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tuple_keys_scan_in_tuple_order() {
    let env = TestDb::file();
    let db = env.open(env.small_options()).await;
    let users = [-5i64, 0, 7, 12, 300];
    let orders = [0u64, 1, 9, 10, 255, 256, 70_000, u64::MAX];
    let mut all: Vec<(i64, u64)> = users
        .iter()
        .flat_map(|&u| orders.iter().map(move |&o| (u, o)))
        .collect();
    all.shuffle(&mut StdRng::seed_from_u64(3));
    for (n, (user, order)) in all.iter().enumerate() {
        db.put(order_key(*user, *order).pack(), format!("{user}/{order}"))
            .await
            .expect("put");
        // Another kind of row under the same user, which the scan must skip.
        db.put(Tuple::new().push(*user).push("profile").pack(), "p")
            .await
            .expect("put");
        if n == all.len() / 2 {
            db.flush().await.expect("flush");
        }
    }

    let (start, end) = Tuple::new().push(7i64).push("orders").range();
    let rows = firn_tests::collect(db.scan(start.clone()..end.clone()).expect("scan"))
        .await
        .expect("scan");
    let got: Vec<Vec<Element>> = rows
        .iter()
        .map(|(k, _)| tuple::unpack(k).expect("a packed tuple"))
        .collect();
    let want: Vec<Vec<Element>> = orders
        .iter()
        .map(|&o| order_key(7, o).into_elements())
        .collect();
    assert_eq!(got, want, "user 7's orders, by order id as a number");
    for (k, v) in &rows {
        let t = tuple::unpack(k).expect("tuple");
        let (user, order) = (t[0].as_i64(), t[2].as_u64());
        assert_eq!(
            v,
            format!("{}/{}", user.expect("user"), order.expect("order")).as_bytes()
        );
    }
    let backwards = firn_tests::collect(db.scan(start..end).expect("scan").rev())
        .await
        .expect("reverse scan");
    let mut reversed = rows.clone();
    reversed.reverse();
    assert_eq!(backwards, reversed);

    // Users sort numerically, negative ones first.
    let everything = firn_tests::collect(db.scan::<&[u8], _>(..).expect("scan"))
        .await
        .expect("scan");
    let first_users: Vec<i64> = everything
        .iter()
        .map(|(k, _)| tuple::unpack(k).expect("tuple")[0].as_i64().expect("user"))
        .collect();
    let mut sorted = first_users.clone();
    sorted.sort();
    assert_eq!(first_users, sorted);
    assert_eq!(first_users.first(), Some(&-5));
    db.close().await.expect("close");
}

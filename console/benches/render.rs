//! One console frame, drawn from a realistic snapshot (the fixture with 2,000 alerts and a
//! full 500-statement tail) on ratatui's TestBackend: the situation, the alert queue and the
//! event explorer at 120×40, and a refresh (a new snapshot handled, then drawn). Target:
//! ≤ 16 ms per frame. The baseline in the same run is an empty frame (the terminal's own
//! cost); the summary prints each screen's median, its ratio to the baseline and the share
//! of the 16 ms budget it uses.

use std::hint::black_box;
use std::time::{Duration, Instant};

use console::app::App;
use console::config::{ConsoleConfig, Language};
use console::data::{EVENT_CAP, Update};
use console::fixture;
use console::keys::Action;
use console::ui;
use criterion::{Criterion, criterion_group, criterion_main};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const SIZE: (u16, u16) = (120, 40);
const ALERTS: usize = 2_000;
const BUDGET: Duration = Duration::from_millis(16);

fn app(screen: Action) -> App {
    let cfg = ConsoleConfig {
        language: Language::Zh,
        refresh: Duration::from_secs(2),
        read_only: false,
    };
    let mut app = App::new(&cfg, "zhang.wei", fixture::now());
    app.resize(SIZE.0, SIZE.1);
    app.update(Update::Snapshot(Box::new(fixture::snapshot(
        ALERTS, EVENT_CAP,
    ))));
    app.handle(screen);
    app
}

fn terminal() -> Terminal<TestBackend> {
    Terminal::new(TestBackend::new(SIZE.0, SIZE.1)).expect("test backend")
}

fn median(mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..200)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

fn frames(c: &mut Criterion) {
    let mut t = terminal();
    let baseline = median(|| {
        draw(&mut t, |_| {});
    });
    c.bench_function("empty frame (baseline)", |b| {
        b.iter(|| draw(&mut t, |_| {}))
    });
    let mut summary = Vec::new();
    for (name, screen) in [
        ("situation", Action::GotoSituation),
        ("alert queue (2,000 alerts)", Action::GotoAlerts),
        ("event explorer (500 statements)", Action::GotoEvents),
    ] {
        let a = app(screen);
        c.bench_function(&format!("frame: {name}"), |b| {
            b.iter(|| draw(&mut t, |f| ui::draw(f, black_box(&a))))
        });
        summary.push((
            name,
            median(|| {
                draw(&mut t, |f| ui::draw(f, &a));
            }),
        ));
    }
    let mut a = app(Action::GotoAlerts);
    let next = fixture::snapshot(ALERTS, EVENT_CAP);
    c.bench_function("refresh: new snapshot handled + alert queue drawn", |b| {
        b.iter(|| {
            a.update(Update::Snapshot(Box::new(next.clone())));
            draw(&mut t, |f| ui::draw(f, &a));
        })
    });
    summary.push((
        "refresh + alert queue",
        median(|| {
            a.update(Update::Snapshot(Box::new(next.clone())));
            draw(&mut t, |f| ui::draw(f, &a));
        }),
    ));
    eprintln!(
        "\nconsole frames at {}×{} (median of 200; baseline empty frame {:?}):",
        SIZE.0, SIZE.1, baseline
    );
    for (name, d) in summary {
        eprintln!(
            "  {name:<34} {:>10.3} ms   {:>6.1}× baseline   {:>5.1} % of the 16 ms budget{}",
            d.as_secs_f64() * 1e3,
            d.as_secs_f64() / baseline.as_secs_f64().max(1e-9),
            100.0 * d.as_secs_f64() / BUDGET.as_secs_f64(),
            if d > BUDGET { "  OVER BUDGET" } else { "" }
        );
    }
}

fn draw(t: &mut Terminal<TestBackend>, f: impl FnOnce(&mut ratatui::Frame<'_>)) {
    t.draw(f).expect("a test backend draws");
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(500));
    targets = frames
}
criterion_main!(benches);

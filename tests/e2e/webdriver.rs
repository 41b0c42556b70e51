//! Headless Chromium for the website tests, driven through Debian's chromedriver over the W3C
//! WebDriver protocol (plain JSON over HTTP): open a page, run a script in it, resize the
//! window, save a screenshot. `.ci/run` installs `chromium` and `chromium-driver`.

use base64::Engine as _;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where the website tests save their screenshots.
pub fn screenshots_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("web-screenshots")
}

/// A chromedriver process and one browser session in it.
pub struct Browser {
    driver: Child,
    session: String,
}

impl Browser {
    /// Starts chromedriver on a free port and opens a headless Chromium `width`×`height`.
    pub fn start(width: u32, height: u32) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "chromedriver runs: install Debian's chromium and chromium-driver \
                 (`apt-get install chromium chromium-driver`, as .ci/run does)",
            );
        let mut browser = Self {
            driver,
            session: format!("http://127.0.0.1:{port}"),
        };
        let started = Instant::now();
        while ureq::get(&format!("{}/status", browser.session))
            .call()
            .is_err()
        {
            assert!(
                started.elapsed() < crate::wait::BACKSTOP,
                "chromedriver did not answer within {:?}",
                crate::wait::BACKSTOP
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let created = browser.send(
            "POST",
            "/session",
            json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {"args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    format!("--window-size={width},{height}"),
                ]},
            }}}),
        );
        let id = created["sessionId"]
            .as_str()
            .expect("chromedriver opens a session")
            .to_string();
        browser.session = format!("{}/session/{id}", browser.session);
        browser
    }

    /// Sends one WebDriver command to the session (`path` after it) and returns its value.
    fn send(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.session);
        let answer = match method {
            "GET" => ureq::get(&url).call(),
            "DELETE" => ureq::delete(&url).call(),
            _ => ureq::request(method, &url).send_json(body),
        };
        let answer: Value = match answer {
            Ok(answer) => answer.into_json().expect("WebDriver answers JSON"),
            Err(ureq::Error::Status(status, answer)) => {
                panic!(
                    "WebDriver {method} {path}: {status} {}",
                    answer.into_string().unwrap_or_default()
                )
            }
            Err(error) => panic!("WebDriver {method} {path}: {error}"),
        };
        answer["value"].clone()
    }

    /// Opens `url` and waits for it to load.
    pub fn goto(&self, url: &str) {
        self.send("POST", "/url", json!({ "url": url }));
    }

    /// Runs `script` (a function body) in the page and returns what it returns.
    pub fn run(&self, script: &str) -> Value {
        self.send(
            "POST",
            "/execute/sync",
            json!({ "script": script, "args": [] }),
        )
    }

    /// The text of the first element `css` selects, if any.
    pub fn text(&self, css: &str) -> Option<String> {
        let script = format!(
            "const element = document.querySelector({}); return element ? element.innerText : null;",
            json!(css)
        );
        self.run(&script).as_str().map(str::to_string)
    }

    /// Waits up to `patience` for `script` to return true.
    pub fn wait_for(&self, script: &str, patience: Duration) -> bool {
        let started = Instant::now();
        while started.elapsed() < patience {
            if self.run(script) == Value::Bool(true) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        false
    }

    /// Resizes the window.
    pub fn resize(&self, width: u32, height: u32) {
        self.send(
            "POST",
            "/window/rect",
            json!({ "width": width, "height": height }),
        );
    }

    /// Saves a PNG of the window as `name` in [`screenshots_dir`] and returns its path.
    pub fn screenshot(&self, name: &str) -> PathBuf {
        let encoded = self.send("GET", "/screenshot", Value::Null);
        let png = base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().expect("a base64 screenshot"))
            .expect("valid base64");
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        let dir = screenshots_dir();
        std::fs::create_dir_all(&dir).expect("the screenshots folder");
        let path = dir.join(name);
        std::fs::write(&path, png).expect("the screenshot is written");
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = ureq::delete(&self.session).call();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

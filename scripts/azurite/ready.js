// Waits until the Azurite blob service at ENDPOINT answers, then creates CONTAINER (a signed
// Create Container request with the account's shared key; an existing container is fine).
//
//   node scripts/azurite/ready.js ENDPOINT ACCOUNT KEY CONTAINER TIMEOUT_SECS [PID]
//
// With PID (the service's process), waiting stops at once if that process exits.
// ENDPOINT is path-style, as Azurite serves it: http://127.0.0.1:PORT/ACCOUNT. Exits non-zero
// with a message on standard error when the service does not answer in time or refuses.
"use strict";
const crypto = require("crypto");
const http = require("http");

const [endpoint, account, key, container, timeoutSecs, pid] = process.argv.slice(2);
if (!endpoint || !account || !key || !container || !timeoutSecs) {
  console.error("usage: ready.js ENDPOINT ACCOUNT KEY CONTAINER TIMEOUT_SECS");
  process.exit(2);
}
const base = new URL(endpoint.replace(/\/+$/, ""));
const deadline = Date.now() + Number(timeoutSecs) * 1000;

function alive() {
  if (!pid) return true;
  try {
    process.kill(Number(pid), 0);
    return true;
  } catch (e) {
    return e.code === "EPERM";
  }
}

function request(method, path, headers) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: base.hostname, port: base.port, method, path, headers, timeout: 2000 },
      (res) => {
        let body = "";
        res.on("data", (d) => (body += d));
        res.on("end", () => resolve({ status: res.statusCode, body }));
      },
    );
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", reject);
    req.end();
  });
}

// Shared Key authorization (https://learn.microsoft.com/rest/api/storageservices/authorize-with-shared-key).
function createContainerHeaders(path, query) {
  const headers = {
    "x-ms-date": new Date().toUTCString(),
    "x-ms-version": "2021-08-06",
    "Content-Length": "0",
  };
  const canonicalHeaders = Object.keys(headers)
    .filter((h) => h.startsWith("x-ms-"))
    .sort()
    .map((h) => `${h}:${headers[h]}\n`)
    .join("");
  const canonicalQuery = Object.keys(query)
    .sort()
    .map((k) => `\n${k}:${query[k]}`)
    .join("");
  // VERB, then Content-Encoding ... Range (Content-Length empty when 0), then the rest.
  const stringToSign =
    "PUT\n" + "\n".repeat(11) + canonicalHeaders + `/${account}${path}` + canonicalQuery;
  const signature = crypto
    .createHmac("sha256", Buffer.from(key, "base64"))
    .update(stringToSign, "utf8")
    .digest("base64");
  headers.Authorization = `SharedKey ${account}:${signature}`;
  return headers;
}

async function main() {
  // Any HTTP answer means the service is up.
  for (;;) {
    try {
      await request("GET", base.pathname);
      break;
    } catch (e) {
      if (!alive()) {
        throw new Error(`the blob service (process ${pid}) exited before answering`);
      }
      if (Date.now() > deadline) {
        throw new Error(`the blob service at ${endpoint} did not answer within ${timeoutSecs}s: ${e.message}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  const path = `${base.pathname}/${container}`;
  const res = await request("PUT", `${path}?restype=container`, createContainerHeaders(path, { restype: "container" }));
  if (res.status !== 201 && res.status !== 409) {
    throw new Error(`creating container ${container} failed: HTTP ${res.status} ${res.body}`);
  }
}

main().catch((e) => {
  console.error(e.message);
  process.exit(1);
});

// The factors example in service-worker syntax, as older Oyster functions are written.
addEventListener("fetch", (event) => {
  event.respondWith(handle(event.request));
});

async function handle(request) {
  const { num } = await request.json();
  const factors = [];
  let n = Number(num);
  for (let d = 2; d * d <= n; d++) {
    while (n % d === 0) {
      factors.push(d);
      n /= d;
    }
  }
  if (n > 1) factors.push(n);
  return new Response(JSON.stringify({ num, factors }), {
    headers: { "content-type": "application/json" },
  });
}

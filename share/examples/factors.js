// Example oys function: the prime factors of a number.
//   POST {"num": 100}  ->  {"num":100,"factors":[2,2,5,5]}
export default {
  async fetch(request) {
    let body;
    try {
      body = await request.json();
    } catch {
      return Response.json({ error: "send JSON like {\"num\": 100}" }, { status: 400 });
    }
    const num = Number(body?.num);
    if (!Number.isSafeInteger(num) || num < 2) {
      return Response.json({ error: "num must be a whole number >= 2" }, { status: 400 });
    }
    const factors = [];
    let n = num;
    for (let d = 2; d * d <= n; d++) {
      while (n % d === 0) {
        factors.push(d);
        n /= d;
      }
    }
    if (n > 1) factors.push(n);
    return Response.json({ num, factors });
  },
};

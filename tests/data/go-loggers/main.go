// Command gologgers writes the log fixtures of tests/go_loggers.rs: it
// provokes real errors from lib/pq, pgx v4 and net/http against a throwaway
// PostgreSQL and a slow local HTTP server, then logs the same events through
// zap (production JSON and development console), logrus (JSON and text),
// zerolog (RFC 3339 and Unix s, ms, µs times) and zap JSON inside docker's
// json-file wrapper. Times come from a fixed clock (2025-01-12 19:00 WIB,
// 250 ms apart) so the files are the same on every run except for the
// addresses inside the errors. expected.json lists each event's level,
// message, order id and the kind of error it carries.
//
// Built by make.sh (GOPATH mode, Debian's golang-*-dev packages).
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/jackc/pgx/v4"
	_ "github.com/lib/pq"
	"github.com/rs/zerolog"
	"github.com/sirupsen/logrus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// event is one line every logger writes.
type event struct {
	Level   string  `json:"level"`
	Message string  `json:"message"`
	OrderID string  `json:"order_id"`
	Kind    string  `json:"kind"`
	Error   string  `json:"error"`
	Latency float64 `json:"latency_ms"`
}

var start = time.Date(2025, 1, 12, 19, 0, 0, 0, time.FixedZone("WIB", 7*3600))

type clock struct {
	mu sync.Mutex
	n  int
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := start.Add(time.Duration(c.n) * 250 * time.Millisecond)
	c.n++
	return t
}

func (c *clock) NewTicker(d time.Duration) *time.Ticker { return time.NewTicker(d) }

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "gologgers:", err)
		os.Exit(1)
	}
}

// tooManyClients opens connections until the server refuses one.
func tooManyPq(url string) error {
	var held []*sql.DB
	defer func() {
		for _, d := range held {
			d.Close()
		}
	}()
	for i := 0; i < 200; i++ {
		d, err := sql.Open("postgres", url)
		must(err)
		d.SetMaxOpenConns(1)
		if err := d.Ping(); err != nil {
			d.Close()
			return err
		}
		held = append(held, d)
	}
	return errors.New("no connection was refused")
}

func tooManyPgx(url string) error {
	var held []*pgx.Conn
	defer func() {
		for _, c := range held {
			c.Close(context.Background())
		}
	}()
	for i := 0; i < 200; i++ {
		c, err := pgx.Connect(context.Background(), url)
		if err != nil {
			return err
		}
		held = append(held, c)
	}
	return errors.New("no connection was refused")
}

// deadlockPq makes two transactions wait on each other; one is aborted.
func deadlockPq(url string) error {
	d, err := sql.Open("postgres", url)
	must(err)
	defer d.Close()
	_, err = d.Exec(`DROP TABLE IF EXISTS fx_dl; CREATE TABLE fx_dl (id int PRIMARY KEY, n int); INSERT INTO fx_dl VALUES (1, 0), (2, 0)`)
	must(err)
	t1, err := d.Begin()
	must(err)
	t2, err := d.Begin()
	must(err)
	_, err = t1.Exec(`UPDATE fx_dl SET n = n + 1 WHERE id = 1`)
	must(err)
	_, err = t2.Exec(`UPDATE fx_dl SET n = n + 1 WHERE id = 2`)
	must(err)
	errs := make(chan error, 2)
	go func() { _, e := t1.Exec(`UPDATE fx_dl SET n = n + 1 WHERE id = 2`); errs <- e }()
	time.Sleep(200 * time.Millisecond)
	go func() { _, e := t2.Exec(`UPDATE fx_dl SET n = n + 1 WHERE id = 1`); errs <- e }()
	var found error
	for i := 0; i < 2; i++ {
		if e := <-errs; e != nil {
			found = e
		}
	}
	t1.Rollback()
	t2.Rollback()
	return found
}

func deadlockPgx(url string) error {
	ctx := context.Background()
	a, err := pgx.Connect(ctx, url)
	must(err)
	defer a.Close(ctx)
	b, err := pgx.Connect(ctx, url)
	must(err)
	defer b.Close(ctx)
	_, err = a.Exec(ctx, `DROP TABLE IF EXISTS fx_dl2; CREATE TABLE fx_dl2 (id int PRIMARY KEY, n int); INSERT INTO fx_dl2 VALUES (1, 0), (2, 0)`)
	must(err)
	t1, err := a.Begin(ctx)
	must(err)
	t2, err := b.Begin(ctx)
	must(err)
	_, err = t1.Exec(ctx, `UPDATE fx_dl2 SET n = n + 1 WHERE id = 1`)
	must(err)
	_, err = t2.Exec(ctx, `UPDATE fx_dl2 SET n = n + 1 WHERE id = 2`)
	must(err)
	errs := make(chan error, 2)
	go func() { _, e := t1.Exec(ctx, `UPDATE fx_dl2 SET n = n + 1 WHERE id = 2`); errs <- e }()
	time.Sleep(200 * time.Millisecond)
	go func() { _, e := t2.Exec(ctx, `UPDATE fx_dl2 SET n = n + 1 WHERE id = 1`); errs <- e }()
	var found error
	for i := 0; i < 2; i++ {
		if e := <-errs; e != nil {
			found = e
		}
	}
	t1.Rollback(ctx)
	t2.Rollback(ctx)
	return found
}

func uniquePq(url string) error {
	d, err := sql.Open("postgres", url)
	must(err)
	defer d.Close()
	_, err = d.Exec(`DROP TABLE IF EXISTS fx_pay; CREATE TABLE fx_pay (payment_id text PRIMARY KEY)`)
	must(err)
	_, err = d.Exec(`INSERT INTO fx_pay VALUES ('PAY-1')`)
	must(err)
	_, err = d.Exec(`INSERT INTO fx_pay VALUES ('PAY-1')`)
	return err
}

func uniquePgx(url string) error {
	ctx := context.Background()
	c, err := pgx.Connect(ctx, url)
	must(err)
	defer c.Close(ctx)
	_, err = c.Exec(ctx, `INSERT INTO fx_pay VALUES ('PAY-1')`)
	return err
}

func statementTimeoutPq(url string) error {
	d, err := sql.Open("postgres", url)
	must(err)
	defer d.Close()
	d.SetMaxOpenConns(1)
	_, err = d.Exec(`SET statement_timeout = 50`)
	must(err)
	_, err = d.Exec(`SELECT pg_sleep(2)`)
	return err
}

func statementTimeoutPgx(url string) error {
	ctx := context.Background()
	c, err := pgx.Connect(ctx, url)
	must(err)
	defer c.Close(ctx)
	_, err = c.Exec(ctx, `SET statement_timeout = 50`)
	must(err)
	_, err = c.Exec(ctx, `SELECT pg_sleep(2)`)
	return err
}

// httpErrors: a client timeout against a slow server, a request context
// deadline, a refused connection and a response header timeout.
func httpErrors() (clientTimeout, ctxDeadline, refused, headerTimeout error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(500 * time.Millisecond)
		w.WriteHeader(200)
	})}
	go srv.Serve(ln)
	defer srv.Close()
	base := "http://" + ln.Addr().String() + "/v1/payments/callback"
	c := &http.Client{Timeout: 50 * time.Millisecond}
	_, clientTimeout = c.Post(base, "application/json", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", base, nil)
	_, ctxDeadline = http.DefaultClient.Do(req)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	must(err)
	addr := closed.Addr().String()
	closed.Close()
	_, refused = http.Post("http://"+addr+"/v1/payments/callback", "application/json", nil)
	tr := &http.Transport{ResponseHeaderTimeout: 50 * time.Millisecond}
	_, headerTimeout = (&http.Client{Transport: tr}).Post(base, "application/json", nil)
	return
}

func main() {
	super := flag.String("super", "", "superuser connection URL")
	app := flag.String("app", "", "non-superuser connection URL")
	out := flag.String("out", ".", "output directory")
	flag.Parse()
	must(os.MkdirAll(*out, 0o755))

	ct, cd, ref, ht := httpErrors()
	type provoked struct {
		kind, msg string
		err       error
	}
	errs := []provoked{
		{"too_many_clients", "create order failed", tooManyPq(*super)},
		{"too_many_clients", "create order failed", tooManyPgx(*super)},
		{"too_many_clients_reserved", "update order status failed", tooManyPq(*app)},
		{"too_many_clients_reserved", "update order status failed", tooManyPgx(*app)},
		{"deadlock", "update order status failed", deadlockPq(*super)},
		{"deadlock", "update order status failed", deadlockPgx(*super)},
		{"unique_violation", "insert payment failed", uniquePq(*super)},
		{"unique_violation", "insert payment failed", uniquePgx(*super)},
		{"statement_timeout", "query orders failed", statementTimeoutPq(*super)},
		{"statement_timeout", "query orders failed", statementTimeoutPgx(*super)},
		{"client_timeout", "payment callback failed", ct},
		{"context_deadline", "ho push failed", cd},
		{"connection_refused", "charge request failed", ref},
		{"header_timeout", "ho push failed", ht},
	}
	var events []event
	n := 0
	next := func() string { n++; return fmt.Sprintf("ORD-250112-%08d", n) }
	for _, p := range errs {
		if p.err == nil {
			fmt.Fprintf(os.Stderr, "gologgers: %s did not fail\n", p.kind)
			os.Exit(1)
		}
		id := next()
		events = append(events,
			event{Level: "info", Message: "order created", OrderID: id, Latency: 12.5},
			event{Level: "error", Message: p.msg, OrderID: id, Kind: p.kind, Error: p.err.Error(), Latency: 3003},
		)
	}
	id := next()
	events = append(events, event{Level: "warn", Message: "payment callback processed twice", OrderID: id, Latency: 41})

	write := func(name string, log func(e event)) {
		for _, e := range events {
			log(e)
		}
		fmt.Println("wrote", name)
	}
	path := func(name string) string { return filepath.Join(*out, name) }

	// zap production (JSON, epoch-float ts) and development (console).
	for _, v := range []struct {
		name string
		cfg  zap.Config
	}{{"zap-production.log", zap.NewProductionConfig()}, {"zap-development.log", zap.NewDevelopmentConfig()}} {
		cfg := v.cfg
		cfg.OutputPaths = []string{path(v.name)}
		cfg.Sampling = nil
		os.Remove(path(v.name))
		l, err := cfg.Build(zap.WithClock(&clock{}))
		must(err)
		write(v.name, func(e event) {
			f := []zap.Field{zap.String("orderNo", e.OrderID), zap.Duration("latency", time.Duration(e.Latency*float64(time.Millisecond)))}
			if e.Error != "" {
				f = append(f, zap.Error(errors.New(e.Error)))
			}
			switch e.Level {
			case "info":
				l.Info(e.Message, f...)
			case "warn":
				l.Warn(e.Message, f...)
			default:
				l.Error(e.Message, f...)
			}
		})
		l.Sync()
	}

	// zap production JSON inside docker's json-file wrapper (stderr, as zap writes).
	{
		cfg := zap.NewProductionConfig()
		cfg.Sampling = nil
		enc := zapcore.NewJSONEncoder(cfg.EncoderConfig)
		f, err := os.Create(path("docker-zap.log"))
		must(err)
		w := &dockerWriter{f: f, clock: &clock{}}
		l := zap.New(zapcore.NewCore(enc, zapcore.AddSync(w), zap.InfoLevel), zap.WithClock(&clock{}), zap.AddCaller())
		write("docker-zap.log", func(e event) {
			fields := []zap.Field{zap.Object("trx", trx{e.OrderID}), zap.Float64("elapsed", e.Latency/1000)}
			if e.Error != "" {
				fields = append(fields, zap.Error(errors.New(e.Error)))
			}
			switch e.Level {
			case "info":
				l.Info(e.Message, fields...)
			case "warn":
				l.Warn(e.Message, fields...)
			default:
				l.Error(e.Message, fields...)
			}
		})
		l.Sync()
		f.Close()
	}

	// logrus JSON and text.
	for _, v := range []struct {
		name string
		f    logrus.Formatter
	}{
		{"logrus-json.log", &logrus.JSONFormatter{TimestampFormat: time.RFC3339Nano}},
		{"logrus-text.log", &logrus.TextFormatter{DisableColors: true, FullTimestamp: true, TimestampFormat: time.RFC3339Nano}},
	} {
		f, err := os.Create(path(v.name))
		must(err)
		l := logrus.New()
		l.SetOutput(f)
		l.SetFormatter(v.f)
		c := &clock{}
		write(v.name, func(e event) {
			entry := l.WithTime(c.Now()).WithField("order_id", e.OrderID).WithField("duration_ms", e.Latency)
			if e.Error != "" {
				entry = entry.WithError(errors.New(e.Error))
			}
			switch e.Level {
			case "info":
				entry.Info(e.Message)
			case "warn":
				entry.Warn(e.Message)
			default:
				entry.Error(e.Message)
			}
		})
		f.Close()
	}

	// zerolog with each time format.
	for _, v := range []struct{ name, format string }{
		{"zerolog-rfc3339.log", time.RFC3339Nano},
		{"zerolog-unix.log", zerolog.TimeFormatUnix},
		{"zerolog-unixms.log", zerolog.TimeFormatUnixMs},
		{"zerolog-unixmicro.log", zerolog.TimeFormatUnixMicro},
	} {
		f, err := os.Create(path(v.name))
		must(err)
		zerolog.TimeFieldFormat = v.format
		c := &clock{}
		zerolog.TimestampFunc = c.Now
		l := zerolog.New(f).With().Timestamp().Logger()
		write(v.name, func(e event) {
			var ev *zerolog.Event
			switch e.Level {
			case "info":
				ev = l.Info()
			case "warn":
				ev = l.Warn()
			default:
				ev = l.Error()
			}
			ev = ev.Str("order_id", e.OrderID).Float64("latency_ms", e.Latency)
			if e.Error != "" {
				ev = ev.Err(errors.New(e.Error))
			}
			ev.Msg(e.Message)
		})
		f.Close()
	}

	b, err := json.MarshalIndent(events, "", "  ")
	must(err)
	must(os.WriteFile(path("expected.json"), append(b, '\n'), 0o644))
}

// trx is the nested object some services log ids in: "trx":{"order_id":…}.
type trx struct{ orderID string }

func (t trx) MarshalLogObject(e zapcore.ObjectEncoder) error {
	e.AddString("id", "TRX-"+t.orderID[len(t.orderID)-8:])
	e.AddString("order_id", t.orderID)
	return nil
}

// dockerWriter wraps each line as docker's json-file log driver does.
type dockerWriter struct {
	f     *os.File
	clock *clock
}

func (w *dockerWriter) Write(p []byte) (int, error) {
	rec := struct {
		Log    string `json:"log"`
		Stream string `json:"stream"`
		Time   string `json:"time"`
	}{string(p), "stderr", w.clock.Now().UTC().Format(time.RFC3339Nano)}
	b, err := json.Marshal(rec)
	if err != nil {
		return 0, err
	}
	if _, err := w.f.Write(append(b, '\n')); err != nil {
		return 0, err
	}
	return len(p), nil
}

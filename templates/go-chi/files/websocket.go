package main

import (
	"net/http"
	"time"

	"github.com/gorilla/websocket"
)

const (
	wsWriteTimeout = 5 * time.Second
	wsPingEvery    = 30 * time.Second
	wsPongWait     = 2 * wsPingEvery
)

var upgrader = websocket.Upgrader{
	ReadBufferSize:  1024,
	WriteBufferSize: 4096,
	// The events are public demo data and the frontend dev server runs on
	// another origin. Restrict this before streaming anything private.
	CheckOrigin: func(*http.Request) bool { return true },
}

// events streams each consumed domain event as a JSON text frame.
func (a *App) events(w http.ResponseWriter, r *http.Request) {
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		// Upgrade already answered with an HTTP error.
		return
	}
	defer conn.Close()
	frames, unsubscribe := a.hub.Subscribe()
	defer unsubscribe()
	a.metrics.WebsocketConns.Inc()
	defer a.metrics.WebsocketConns.Dec()
	a.log.Debug(r.Context(), "websocket connected")

	// The reader only handles control frames and notices the client leaving.
	gone := make(chan struct{})
	conn.SetReadLimit(4096)
	_ = conn.SetReadDeadline(time.Now().Add(wsPongWait))
	conn.SetPongHandler(func(string) error {
		return conn.SetReadDeadline(time.Now().Add(wsPongWait))
	})
	go func() {
		defer close(gone)
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	}()

	ping := time.NewTicker(wsPingEvery)
	defer ping.Stop()
	for {
		select {
		case <-gone:
			return
		case frame, ok := <-frames:
			_ = conn.SetWriteDeadline(time.Now().Add(wsWriteTimeout))
			if !ok {
				// The hub closed: the service is shutting down.
				_ = conn.WriteMessage(websocket.CloseMessage,
					websocket.FormatCloseMessage(websocket.CloseGoingAway, "shutting down"))
				return
			}
			if err := conn.WriteMessage(websocket.TextMessage, frame); err != nil {
				return
			}
		case <-ping.C:
			_ = conn.SetWriteDeadline(time.Now().Add(wsWriteTimeout))
			if err := conn.WriteMessage(websocket.PingMessage, nil); err != nil {
				return
			}
		}
	}
}

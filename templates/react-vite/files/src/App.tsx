import { useState, type FormEvent } from 'react';
import { Button } from '@/components/ui/button';
import { Card, CardContent, CardHeader, CardTitle } from '@/components/ui/card';
import { Input } from '@/components/ui/input';
import { useEventStream } from '@/hooks/useEventStream';
import { useAppDispatch, useAppSelector } from '@/store';
import { fetchGreeting } from '@/store/greetingSlice';

const CONNECTION_LABEL = { connecting: 'Connecting…', open: 'Live', closed: 'Disconnected' } as const;

export default function App() {
  useEventStream();
  const dispatch = useAppDispatch();
  const greeting = useAppSelector((s) => s.greeting);
  const events = useAppSelector((s) => s.events);
  const [name, setName] = useState('');

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const trimmed = name.trim();
    if (trimmed) void dispatch(fetchGreeting(trimmed));
  };

  return (
    <main className="container max-w-3xl space-y-6 py-10">
      <h1 className="text-3xl font-bold tracking-tight">{document.title}</h1>

      <Card>
        <CardHeader>
          <CardTitle>Say hello</CardTitle>
        </CardHeader>
        <CardContent className="space-y-4">
          <form className="flex gap-2" onSubmit={submit}>
            <Input
              aria-label="Name"
              placeholder="Your name"
              value={name}
              maxLength={200}
              onChange={(e) => setName(e.target.value)}
            />
            <Button type="submit" disabled={greeting.status === 'loading' || name.trim() === ''}>
              Greet
            </Button>
          </form>
          {greeting.status === 'succeeded' && greeting.message && (
            <p role="status" className="text-lg">
              {greeting.message}
            </p>
          )}
          {greeting.status === 'failed' && (
            <p role="alert" className="text-destructive">
              {greeting.error}
            </p>
          )}
        </CardContent>
      </Card>

      <Card>
        <CardHeader>
          <CardTitle className="flex items-center justify-between">
            <span>Live events</span>
            <span
              data-testid="connection"
              className={events.connection === 'open' ? 'text-sm text-green-600' : 'text-sm text-muted-foreground'}
            >
              {CONNECTION_LABEL[events.connection]}
            </span>
          </CardTitle>
        </CardHeader>
        <CardContent>
          {events.items.length === 0 ? (
            <p className="text-muted-foreground">No events yet: greet someone.</p>
          ) : (
            <ul aria-label="Events" className="space-y-2">
              {events.items.map((e) => (
                <li key={e.eventId} className="flex justify-between rounded-md border p-3 text-sm">
                  <span>
                    <span className="font-mono text-muted-foreground">{e.eventType}</span> {e.payload.message}
                  </span>
                  <time dateTime={e.occurredAt} className="text-muted-foreground">
                    {new Date(e.occurredAt).toLocaleTimeString()}
                  </time>
                </li>
              ))}
            </ul>
          )}
        </CardContent>
      </Card>
    </main>
  );
}

import { createAsyncThunk, createSlice } from '@reduxjs/toolkit';
import { apiBaseUrl } from '@/lib/config';

export interface GreetingState {
  message: string | null;
  status: 'idle' | 'loading' | 'succeeded' | 'failed';
  error: string | null;
}

const initialState: GreetingState = { message: null, status: 'idle', error: null };

/** GET /hello/:name on the backend; resolves to the greeting message. */
export const fetchGreeting = createAsyncThunk<string, string, { rejectValue: string }>(
  'greeting/fetch',
  async (name, { rejectWithValue, signal }) => {
    try {
      const res = await fetch(`${apiBaseUrl()}/hello/${encodeURIComponent(name)}`, {
        headers: { Accept: 'application/json' },
        signal,
      });
      if (!res.ok) {
        return rejectWithValue(`The backend answered ${res.status}`);
      }
      const body = (await res.json()) as { message?: unknown };
      if (typeof body.message !== 'string') {
        return rejectWithValue('The backend answered without a message');
      }
      return body.message;
    } catch (err) {
      return rejectWithValue(err instanceof Error ? err.message : 'The backend is unreachable');
    }
  },
);

const greetingSlice = createSlice({
  name: 'greeting',
  initialState,
  reducers: {},
  extraReducers: (builder) => {
    builder
      .addCase(fetchGreeting.pending, (state) => {
        state.status = 'loading';
        state.error = null;
      })
      .addCase(fetchGreeting.fulfilled, (state, action) => {
        state.status = 'succeeded';
        state.message = action.payload;
      })
      .addCase(fetchGreeting.rejected, (state, action) => {
        state.status = 'failed';
        state.error = action.payload ?? action.error.message ?? 'Request failed';
      });
  },
});

export default greetingSlice.reducer;

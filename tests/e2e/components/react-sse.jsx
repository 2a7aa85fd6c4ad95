import React from 'react';
import { createRoot } from 'react-dom/client';
import CartComponent from './SseCart.jsx';

window.__comp = { messages: [], confirms: [] };
createRoot(document.getElementById('app')).render(<CartComponent tableId={123} />);

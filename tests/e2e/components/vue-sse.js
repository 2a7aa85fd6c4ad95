import { createApp } from 'vue';
import SseCart from './SseCart.vue';
import { installVueStandins } from './standins.js';

const app = createApp(SseCart);
installVueStandins(app);
app.mount('#app');

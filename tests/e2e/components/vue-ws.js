import { createApp } from 'vue';
import WsCart from './WsCart.vue';
import { installVueStandins } from './standins.js';

const app = createApp(WsCart);
installVueStandins(app);
window.__comp.vm = app.mount('#app'); // the test calls the component's own addItem()
